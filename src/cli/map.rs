//! `graph-connector map`: the administrator's preview of one item through the mappings.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context as _, bail};
use indexmap::IndexMap;
use serde_json::Value;

use graph_connector::{
    diag::did_you_mean,
    limits::MAX_FILE_BYTES,
    load::{self, load_set, read_directory},
    mapping::{self, Context},
};

/// Arguments of `map`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Resource: event, message, task, contact or absence.
    pub resource: String,
    /// The item: Graph item JSON (or, with --reverse, a CRM record `{"table", "fields"}`).
    #[arg(long)]
    pub input: PathBuf,
    /// Mapping directory.
    #[arg(long, default_value = "mappings")]
    pub mappings: PathBuf,
    /// Template overlay from `mappings/templates/NAME.yaml` (default: base behaviour only).
    #[arg(long)]
    pub template: Option<String>,
    /// Mailbox time zone, Windows (`W. Europe Standard Time`) or IANA (`Europe/Berlin`).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Language of texts such as the missing-attendees block.
    #[arg(long, default_value = "en")]
    pub lang: String,
    /// YAML file of known CRM participants: `reps: [{email, id, name}]`, `persons: [{email, id, name}]`.
    #[arg(long)]
    pub directory: Option<PathBuf>,
    /// Map a CRM record to the Graph JSON body instead.
    #[arg(long)]
    pub reverse: bool,
    /// The "now" used by rules that need it (RFC 3339); default: the current time.
    #[arg(long)]
    pub now: Option<String>,
    /// The mailbox owner's address (fills the owner's rep, and is left out of the participants).
    #[arg(long)]
    pub mailbox: Option<String>,
    /// Well-known name of the folder the item is in (`inbox`, `sentitems`), for folder selections.
    #[arg(long)]
    pub folder: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let set = load_set(&args.mappings, args.template.as_deref())?;
    let Some(res) = set.resource(&args.resource) else {
        let names: Vec<&String> = set.resources.keys().collect();
        let hint = did_you_mean(&args.resource, &names)
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        bail!(
            "unknown resource `{}`: expected one of {}{hint}",
            args.resource,
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let text = load::read_text(&args.input, MAX_FILE_BYTES)
        .with_context(|| format!("cannot read input {}", args.input.display()))?;
    let input: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON object", args.input.display()))?;
    let mut ctx = Context::new(&args.tz)?;
    ctx.lang = args.lang.clone();
    ctx.now = match &args.now {
        Some(now) => now.parse().with_context(|| {
            format!("--now `{now}`: expected an RFC 3339 time such as 2025-03-04T08:00:00Z")
        })?,
        None => jiff::Timestamp::now(),
    };
    ctx.mailbox = args.mailbox.clone();
    ctx.folder = args.folder.clone();
    if let Some(dir) = &args.directory {
        ctx.directory = read_directory(dir)?;
    }

    use graph_connector::model::Direction;
    if args.reverse && res.direction == Direction::GraphToCrm {
        eprintln!(
            "warning: the `{}` mapping runs graph_to_crm only; nothing is written to Graph",
            res.name
        );
    }
    if !args.reverse && res.direction == Direction::CrmToGraph {
        eprintln!(
            "warning: the `{}` mapping runs crm_to_graph only; map a CRM record with --reverse",
            res.name
        );
    }
    if args.reverse {
        let Some(fields) = input.get("fields").and_then(Value::as_object) else {
            bail!(
                "{}: expected a CRM record {{\"table\": \"...\", \"fields\": {{...}}}}",
                args.input.display()
            );
        };
        if let Some(table) = input.get("table").and_then(Value::as_str)
            && table != res.table
        {
            eprintln!(
                "warning: the record's table `{table}` is not the `{}` mapping's table `{}`",
                res.name, res.table
            );
        }
        let fields: IndexMap<String, Value> =
            fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(filter) = &res.filter
            && !mapping::filter::matches(filter, &fields)
        {
            eprintln!(
                "warning: the record does not pass the `{}` CRM filter (it would not be synced)",
                res.name
            );
        }
        let out = mapping::to_graph(&set, res, &fields, &ctx);
        for w in &out.warnings {
            eprintln!("warning: {w}");
        }
        println!("{}", serde_json::to_string_pretty(&out.body)?);
    } else {
        if !input.is_object() {
            bail!(
                "{}: expected a Graph item (a JSON object)",
                args.input.display()
            );
        }
        let mut record = mapping::to_crm(&set, res, &input, &ctx);
        if !mapping::selected(res, &input, &ctx) {
            record.warnings.push(format!(
                "the item does not pass the `{}` selection (it would not be synced)",
                res.name
            ));
        }
        println!("{}", serde_json::to_string_pretty(&record)?);
    }
    Ok(ExitCode::SUCCESS)
}
