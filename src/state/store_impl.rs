//! The one `StateStore` implementation, written once as macros and expanded for each backend's pool and
//! connection types (sqlx's generic executor bounds do not survive boxed `Send` futures), so SQLite and
//! PostgreSQL run the same code over the statements of `sql.rs`.

/// The one `StateStore` implementation, expanded for a backend type with fields `pool` (an sqlx pool) and
/// `location` (display string) and a method `async fn begin(&self) -> Result<Transaction, StateError>`
/// that opens a write transaction.
macro_rules! impl_state_store {
    ($store:ty) => {
        impl $crate::state::StateStore for $store {
            fn location(&self) -> String {
                self.location.clone()
            }

            fn get_link<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                graph_id: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Option<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::GET_LINK)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(graph_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read a link", e))?
                        .map(|row| sql::link_from_row(&row, loc))
                        .transpose()
                })
            }

            fn link_by_crm<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                crm: &'a $crate::state::CrmRef,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Option<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LINK_BY_CRM)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(&crm.table)
                        .bind(&crm.id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read a link", e))?
                        .map(|row| sql::link_from_row(&row, loc))
                        .transpose()
                })
            }

            fn links_by_crm<'a>(
                &'a self,
                crm: &'a $crate::state::CrmRef,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LINKS_BY_CRM)
                        .bind(&crm.table)
                        .bind(&crm.id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read links", e))?
                        .iter()
                        .map(|row| sql::link_from_row(row, loc))
                        .collect()
                })
            }

            fn links_by_correlation<'a>(
                &'a self,
                resource: &'a str,
                key: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LINKS_BY_CORRELATION)
                        .bind(resource)
                        .bind(key)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read links", e))?
                        .iter()
                        .map(|row| sql::link_from_row(row, loc))
                        .collect()
                })
            }

            fn list_links<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LIST_LINKS)
                        .bind(mailbox)
                        .bind(resource)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read links", e))?
                        .iter()
                        .map(|row| sql::link_from_row(row, loc))
                        .collect()
                })
            }

            fn count_links<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<u64, $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let n: i64 = sqlx::query_scalar(sql::COUNT_LINKS)
                        .bind(mailbox)
                        .bind(resource)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "count links", e))?;
                    Ok(u64::try_from(n).unwrap_or(0))
                })
            }

            fn put_link<'a>(
                &'a self,
                link: &'a $crate::state::Link,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    Self::upsert_link(&mut *tx, loc, link).await?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "commit a link", e))
                })
            }

            fn delete_link<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                graph_id: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<bool, $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    let n = sqlx::query(sql::DELETE_LINK)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(graph_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "delete a link", e))?
                        .rows_affected();
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "delete a link", e))?;
                    Ok(n > 0)
                })
            }

            fn get_cursor<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                scope: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<Option<String>, $crate::state::StateError>>
            {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query_scalar(sql::GET_CURSOR)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(scope)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "read a cursor", e))
                })
            }

            fn list_cursors<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<(String, String)>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query_as(sql::LIST_CURSORS)
                        .bind(mailbox)
                        .bind(resource)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "read cursors", e))
                })
            }

            fn put_cursor<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                scope: &'a str,
                value: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    Self::upsert_cursor(&mut *tx, loc, mailbox, resource, scope, value).await?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "write a cursor", e))
                })
            }

            fn delete_cursor<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                scope: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<bool, $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    let n = sqlx::query(sql::DELETE_CURSOR)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(scope)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "delete a cursor", e))?
                        .rows_affected();
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "delete a cursor", e))?;
                    Ok(n > 0)
                })
            }

            fn forget_cursors<'a>(
                &'a self,
                mailbox: &'a str,
                resource: Option<&'a str>,
            ) -> ::futures::future::BoxFuture<'a, Result<u64, $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    let query = match resource {
                        Some(resource) => sqlx::query(sql::FORGET_RESOURCE_CURSORS)
                            .bind(mailbox)
                            .bind(resource),
                        None => sqlx::query(sql::FORGET_CURSORS).bind(mailbox),
                    };
                    let n = query
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "forget cursors", e))?
                        .rows_affected();
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "forget cursors", e))?;
                    Ok(n)
                })
            }

            fn put_status<'a>(
                &'a self,
                status: &'a $crate::state::MailboxStatus,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let counts = sql::counts_json(loc, status)?;
                    let mut tx = self.begin().await?;
                    sqlx::query(sql::UPSERT_STATUS)
                        .bind(&status.mailbox)
                        .bind(&status.address)
                        .bind(status.last_success.map(sql::millis))
                        .bind(status.last_error_at.map(sql::millis))
                        .bind(&status.last_error)
                        .bind(&status.last_fix)
                        .bind(counts)
                        .bind(status.retired_at.map(sql::millis))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "mailbox_status", "write a status", e))?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "mailbox_status", "write a status", e))
                })
            }

            fn get_status<'a>(
                &'a self,
                mailbox: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Option<$crate::state::MailboxStatus>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::GET_STATUS)
                        .bind(mailbox)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "mailbox_status", "read a status", e))?
                        .map(|row| sql::status_from_row(&row, loc))
                        .transpose()
                })
            }

            fn list_status(
                &self,
            ) -> ::futures::future::BoxFuture<
                '_,
                Result<Vec<$crate::state::MailboxStatus>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LIST_STATUS)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "mailbox_status", "read statuses", e))?
                        .iter()
                        .map(|row| sql::status_from_row(row, loc))
                        .collect()
                })
            }

            fn begin_write<'a>(
                &'a self,
                entry: &'a $crate::state::JournalEntry,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<$crate::state::WriteId, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let what = "record a write intent";
                    let mut tx = self.begin().await?;
                    let id: i64 = sqlx::query_scalar(sql::BEGIN_WRITE)
                        .bind(&entry.mailbox)
                        .bind(&entry.resource)
                        .bind(&entry.direction)
                        .bind(&entry.action)
                        .bind(&entry.target)
                        .bind(&entry.match_key)
                        .bind(&entry.payload_hash)
                        .bind(sql::millis(entry.started_at))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", what, e))?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", what, e))?;
                    Ok($crate::state::WriteId(id))
                })
            }

            fn resolve_write<'a>(
                &'a self,
                id: $crate::state::WriteId,
                outcome: &'a $crate::state::Outcome,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::{StateError, StateErrorKind, sql};
                Box::pin(async move {
                    let loc = &self.location;
                    let what = "resolve a write";
                    let mut tx = self.begin().await?;
                    let n = sqlx::query(sql::RESOLVE_WRITE)
                        .bind(id.0)
                        .bind(sql::millis(outcome.resolved_at))
                        .bind(outcome.status.as_str())
                        .bind(&outcome.result_id)
                        .bind(&outcome.detail)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", what, e))?
                        .rows_affected();
                    if n == 0 {
                        let found: Option<Option<i64>> = sqlx::query_scalar(sql::WRITE_RESOLVED_AT)
                            .bind(id.0)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(|e| sql::db_error(loc, "write_journal", what, e))?;
                        return Err(match found {
                            None => StateError::new(
                                StateErrorKind::NotFound,
                                format!(
                                    "state store at {loc}: cannot resolve write {id}: table `write_journal` has no such entry (expected an id returned by begin_write)"
                                ),
                            ),
                            Some(_) => StateError::new(
                                StateErrorKind::AlreadyResolved,
                                format!(
                                    "state store at {loc}: cannot resolve write {id}: its entry in table `write_journal` is already resolved (expected each write resolved once)"
                                ),
                            ),
                        });
                    }
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", what, e))
                })
            }

            fn pending_writes<'a>(
                &'a self,
                mailbox: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::PendingWrite>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::PENDING_WRITES)
                        .bind(mailbox)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", "read pending writes", e))?
                        .iter()
                        .map(|row| sql::pending_from_row(row, loc))
                        .collect()
                })
            }

            fn append_audit<'a>(
                &'a self,
                entries: &'a [$crate::state::AuditEntry],
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    Self::insert_audit(&mut *tx, loc, entries).await?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "audit_log", "append audit entries", e))
                })
            }

            fn audit<'a>(
                &'a self,
                mailbox: Option<&'a str>,
                limit: usize,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::AuditEntry>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let query = match mailbox {
                        Some(mailbox) => sqlx::query(sql::AUDIT_MAILBOX)
                            .bind(sql::limit(limit))
                            .bind(mailbox),
                        None => sqlx::query(sql::AUDIT_ALL).bind(sql::limit(limit)),
                    };
                    query
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "audit_log", "read the audit log", e))?
                        .iter()
                        .map(|row| sql::audit_from_row(row, loc))
                        .collect()
                })
            }

            fn commit_round<'a>(
                &'a self,
                round: &'a $crate::state::RoundCommit,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sql::check_round(loc, round)?;
                    let mut tx = self.begin().await?;
                    for graph_id in &round.delete_links {
                        sqlx::query(sql::DELETE_LINK)
                            .bind(&round.mailbox)
                            .bind(&round.resource)
                            .bind(graph_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| sql::db_error(loc, "links", "delete a link", e))?;
                    }
                    for link in &round.upsert_links {
                        Self::upsert_link(&mut *tx, loc, link).await?;
                    }
                    if let Some((scope, value)) = &round.cursor {
                        Self::upsert_cursor(
                            &mut *tx,
                            loc,
                            &round.mailbox,
                            &round.resource,
                            scope,
                            value,
                        )
                        .await?;
                    }
                    Self::insert_audit(&mut *tx, loc, &round.audit).await?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "commit a round", e))
                })
            }

            fn close(&self) -> ::futures::future::BoxFuture<'_, ()> {
                Box::pin(self.pool.close())
            }
        }
    };
}

pub(crate) use impl_state_store;

/// The write helpers `impl_state_store!` calls inside a transaction, expanded for a connection type.
macro_rules! impl_write_helpers {
    ($store:ty, $conn:ty) => {
        impl $store {
            async fn upsert_link(
                conn: &mut $conn,
                loc: &str,
                link: &$crate::state::Link,
            ) -> Result<(), $crate::state::StateError> {
                use $crate::state::sql;
                sqlx::query(sql::UPSERT_LINK)
                    .bind(&link.mailbox)
                    .bind(&link.resource)
                    .bind(&link.graph_id)
                    .bind(&link.correlation_key)
                    .bind(&link.change_key)
                    .bind(&link.crm_table)
                    .bind(&link.crm_id)
                    .bind(&link.graph_hash)
                    .bind(&link.crm_hash)
                    .bind(&link.mapping_version)
                    .bind(sql::millis(link.updated_at))
                    .bind(i64::from(link.authoritative))
                    .bind(i64::from(link.published))
                    .bind(&link.origin)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        sql::db_error(
                            loc,
                            "links",
                            &format!(
                                "write the link of graph id `{}` to crm record `{}:{}`",
                                link.graph_id, link.crm_table, link.crm_id
                            ),
                            e,
                        )
                    })?;
                Ok(())
            }

            async fn upsert_cursor(
                conn: &mut $conn,
                loc: &str,
                mailbox: &str,
                resource: &str,
                scope: &str,
                value: &str,
            ) -> Result<(), $crate::state::StateError> {
                use $crate::state::sql;
                sqlx::query(sql::UPSERT_CURSOR)
                    .bind(mailbox)
                    .bind(resource)
                    .bind(scope)
                    .bind(value)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| sql::db_error(loc, "cursors", "write a cursor", e))?;
                Ok(())
            }

            async fn insert_audit(
                conn: &mut $conn,
                loc: &str,
                entries: &[$crate::state::AuditEntry],
            ) -> Result<(), $crate::state::StateError> {
                use $crate::state::sql;
                for entry in entries {
                    sqlx::query(sql::INSERT_AUDIT)
                        .bind(sql::millis(entry.time))
                        .bind(&entry.mailbox)
                        .bind(&entry.resource)
                        .bind(&entry.direction)
                        .bind(&entry.action)
                        .bind(&entry.graph_id)
                        .bind(&entry.crm_id)
                        .bind(&entry.mapping_version)
                        .bind(&entry.before_hash)
                        .bind(&entry.after_hash)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| sql::db_error(loc, "audit_log", "append audit entries", e))?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_write_helpers;
