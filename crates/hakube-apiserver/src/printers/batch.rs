//! Printers for the batch group: jobs (status, completions, duration) and
//! cron jobs (schedule, time zone, suspension, last schedule).

use serde_json::Value;

use super::columns::{AGE, CONTAINERS, IMAGES, NAME, column, selector};
use super::duration::{age, human_duration, parse_timestamp, seconds_between, seconds_since};
use super::fields::{
    age_cell, array, container_cells, field, format_label_selector, integer, is_being_deleted,
    length, name_cell, optional_boolean, optional_integer, optional_text, template_containers,
    text,
};
use super::{Column, Printer};

const JOB_SELECTOR_DESCRIPTION: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you.";

static JOB_COLUMNS: [Column; 8] = [
    NAME,
    column("Status", "string", "Status of the job."),
    column(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded.",
    ),
    column("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    selector(JOB_SELECTOR_DESCRIPTION),
];

pub(super) const JOB_PRINTER: Printer = Printer {
    columns: &JOB_COLUMNS,
    cells: job_cells,
};

fn job_cells(job: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let (containers, images) = container_cells(template_containers(job, &["spec", "template"]));
    vec![
        name_cell(job),
        Value::from(job_status(job)),
        Value::from(job_completions(job)),
        Value::from(job_duration(job, now_unix_seconds)),
        age_cell(job, now_unix_seconds),
        Value::from(containers),
        Value::from(images),
        Value::from(format_label_selector(field(job, &["spec", "selector"]))),
    ]
}

/// "succeeded/completions"; without fixed completions "n/1", plus
/// " of <parallelism>" when more than one pod runs at a time.
fn job_completions(job: &Value) -> String {
    let succeeded = integer(job, &["status", "succeeded"]);
    if let Some(completions) = optional_integer(job, &["spec", "completions"]) {
        return format!("{succeeded}/{completions}");
    }
    let parallelism = integer(job, &["spec", "parallelism"]);
    if parallelism > 1 {
        format!("{succeeded}/1 of {parallelism}")
    } else {
        format!("{succeeded}/1")
    }
}

/// Start to completion, or start to now while running; "" before start.
fn job_duration(job: &Value, now_unix_seconds: i64) -> String {
    let timestamp = |key: &str| optional_text(job, &["status", key]).and_then(parse_timestamp);
    let Some(started) = timestamp("startTime") else {
        return String::new();
    };
    let elapsed = match timestamp("completionTime") {
        Some(completed) => seconds_between(started, completed),
        None => seconds_since(started, now_unix_seconds),
    };
    human_duration(elapsed)
}

/// The first matching state in upstream's precedence order.
fn job_status(job: &Value) -> &'static str {
    let has = |condition_type: &str| has_true_job_condition(job, condition_type);
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if is_being_deleted(job) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// Whether the first condition of `condition_type` has status "True".
fn has_true_job_condition(job: &Value, condition_type: &str) -> bool {
    array(job, &["status", "conditions"])
        .iter()
        .find(|condition| text(condition, &["type"]) == condition_type)
        .is_some_and(|condition| text(condition, &["status"]) == "True")
}

static CRON_JOB_COLUMNS: [Column; 10] = [
    NAME,
    column(
        "Schedule",
        "string",
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
    ),
    column(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
    ),
    column(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions. Defaults to false.",
    ),
    column(
        "Active",
        "integer",
        "A list of pointers to currently running jobs.",
    ),
    column(
        "Last Schedule",
        "string",
        "Information when was the last time the job was successfully scheduled.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    selector(JOB_SELECTOR_DESCRIPTION),
];

pub(super) const CRON_JOB_PRINTER: Printer = Printer {
    columns: &CRON_JOB_COLUMNS,
    cells: cron_job_cells,
};

fn cron_job_cells(cron_job: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let template_path = ["spec", "jobTemplate", "spec", "template"];
    let (containers, images) = container_cells(template_containers(cron_job, &template_path));
    let last_schedule = optional_text(cron_job, &["status", "lastScheduleTime"]).map_or_else(
        || "<none>".to_string(),
        |scheduled| age(Some(scheduled), now_unix_seconds),
    );
    let selector_path = ["spec", "jobTemplate", "spec", "selector"];
    vec![
        name_cell(cron_job),
        Value::from(text(cron_job, &["spec", "schedule"])),
        Value::from(optional_text(cron_job, &["spec", "timeZone"]).unwrap_or("<none>")),
        Value::from(suspend_text(optional_boolean(
            cron_job,
            &["spec", "suspend"],
        ))),
        Value::from(length(array(cron_job, &["status", "active"]).len())),
        Value::from(last_schedule),
        age_cell(cron_job, now_unix_seconds),
        Value::from(containers),
        Value::from(images),
        Value::from(format_label_selector(field(cron_job, &selector_path))),
    ]
}

/// Upstream's `printBoolPtr`: a string even though the column is boolean.
fn suspend_text(suspend: Option<bool>) -> &'static str {
    match suspend {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}
