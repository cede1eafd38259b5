//! Optional SQLite persistence of the emulator's records: the in-memory store stays authoritative, every
//! command's written records are sent (in lock order) to one writer task that upserts them into the file.
//!
//! Table `records(tbl, id, deleted, created, upd, vals)` with `vals` a JSON object of canonical values, and
//! `serials(tbl, next)`. A file with records is loaded at start instead of the seed's records.

use std::{collections::BTreeMap, path::Path};

use sqlx::{
    ConnectOptions, Connection, Row,
    sqlite::{SqliteConnectOptions, SqliteConnection},
};
use tokio::sync::mpsc;

use super::store::{CATALOG_TABLE, Db, Record};

/// Records to write: (table name, record) plus each touched table's next serial.
#[derive(Debug)]
pub struct Job {
    rows: Vec<(String, Record)>,
    serials: Vec<(String, u32)>,
}

impl Job {
    /// The written records, and the serials of the tables written or whose sequence moved (a failed
    /// command's ids are never reused, also after a restart).
    pub fn from_db(db: &Db, touched: &[(usize, u64)], advanced: &[usize]) -> Job {
        let mut rows = Vec::new();
        let mut serials: Vec<(String, u32)> = Vec::new();
        let tables = touched
            .iter()
            .map(|&(t, _)| t)
            .chain(advanced.iter().copied());
        for &(t, id) in touched {
            let name = &db.schema.tables[t].name;
            if name == CATALOG_TABLE {
                continue;
            }
            if let Some(rec) = db.data[t].records.get(&id) {
                rows.push((name.clone(), rec.clone()));
            }
        }
        for t in tables {
            let name = &db.schema.tables[t].name;
            if name != CATALOG_TABLE && !serials.iter().any(|(n, _)| n == name) {
                serials.push((name.clone(), db.data[t].next_serial));
            }
        }
        Job { rows, serials }
    }
}

pub struct SqliteStore {
    conn: SqliteConnection,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<SqliteStore, String> {
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .connect()
            .await
            .map_err(|e| format!("cannot open: {e}"))?;
        for stmt in [
            "CREATE TABLE IF NOT EXISTS records (tbl TEXT NOT NULL, id INTEGER NOT NULL, deleted INTEGER NOT NULL, created TEXT NOT NULL, upd TEXT NOT NULL, vals TEXT NOT NULL, PRIMARY KEY (tbl, id))",
            "CREATE TABLE IF NOT EXISTS serials (tbl TEXT PRIMARY KEY, next INTEGER NOT NULL)",
        ] {
            sqlx::query(stmt)
                .execute(&mut conn)
                .await
                .map_err(|e| format!("cannot create tables: {e}"))?;
        }
        Ok(SqliteStore { conn })
    }

    /// Loads stored records into `db`; false when the file holds none.
    pub async fn load(&mut self, db: &mut Db) -> Result<bool, String> {
        let conn = &mut self.conn;
        let rows = sqlx::query(
            "SELECT tbl, id, deleted, created, upd, vals FROM records ORDER BY tbl, id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| format!("cannot read records: {e}"))?;
        if rows.is_empty() {
            return Ok(false);
        }
        for row in rows {
            let tbl: String = row.get(0);
            let id: i64 = row.get(1);
            let t = db
                .schema
                .table(&tbl)
                .ok_or_else(|| format!("stored table `{tbl}` is not in the seed's tables"))?;
            let vals: String = row.get(5);
            let values: BTreeMap<String, String> = serde_json::from_str(&vals)
                .map_err(|e| format!("record {tbl} {id}: bad values: {e}"))?;
            let ts = |s: String| {
                s.parse::<jiff::Timestamp>()
                    .map_err(|e| format!("record {tbl} {id}: bad timestamp `{s}`: {e}"))
            };
            let rec = Record {
                id: id as u64,
                values,
                deleted: row.get::<i64, _>(2) != 0,
                created: ts(row.get(3))?,
                upd: ts(row.get(4))?,
            };
            db.data[t].records.insert(rec.id, rec);
        }
        let serials = sqlx::query("SELECT tbl, next FROM serials")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| format!("cannot read serials: {e}"))?;
        for row in serials {
            let tbl: String = row.get(0);
            if let Some(t) = db.schema.table(&tbl) {
                db.data[t].next_serial = row.get::<i64, _>(1) as u32;
            }
        }
        Ok(true)
    }

    /// Writes one job in a transaction.
    pub async fn write(&mut self, job: Job) -> Result<(), String> {
        write_job(&mut self.conn, job).await
    }

    /// The writer task: applies jobs in order until every sender is gone.
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut conn = self.conn;
        while let Some(job) = rx.recv().await {
            if let Err(error) = write_job(&mut conn, job).await {
                tracing::error!(%error, "CRM emulator: SQLite write failed");
            }
        }
        let _ = conn.close().await;
    }
}

async fn write_job(conn: &mut SqliteConnection, job: Job) -> Result<(), String> {
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    for (tbl, rec) in &job.rows {
        let vals = serde_json::to_string(&rec.values).map_err(|e| e.to_string())?;
        sqlx::query("INSERT OR REPLACE INTO records (tbl, id, deleted, created, upd, vals) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(tbl)
            .bind(rec.id as i64)
            .bind(i64::from(rec.deleted))
            .bind(rec.created.to_string())
            .bind(rec.upd.to_string())
            .bind(vals)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
    }
    for (tbl, next) in &job.serials {
        sqlx::query("INSERT OR REPLACE INTO serials (tbl, next) VALUES (?, ?)")
            .bind(tbl)
            .bind(i64::from(*next))
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}
