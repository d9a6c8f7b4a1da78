use super::*;
use futures::StreamExt;

const SAMPLE: &str = "2026-11-25T21:21:09.000000001Z stdout F one\n\
2026-11-25T21:21:10.000000000Z stderr P tw\n\
2026-11-25T21:21:10.500000000Z stderr F o\n\
2026-11-25T21:21:11.000000000Z stdout F three\n";

fn write_sample(directory: &Path) -> Result<PathBuf, std::io::Error> {
    let path = log_file(directory, "main", 0);
    std::fs::create_dir_all(path.parent().unwrap_or(directory))?;
    std::fs::write(&path, SAMPLE)?;
    Ok(path)
}

#[test]
fn records_parse_and_partials_join() -> Result<(), Box<dyn std::error::Error>> {
    let directory = tempfile::tempdir()?;
    let path = write_sample(directory.path())?;
    assert_eq!(
        read_log(&path, &LogOptions::default())?,
        ["one", "two", "three"]
    );
    Ok(())
}

#[test]
fn tail_since_timestamps_and_limit_filter_lines() -> Result<(), Box<dyn std::error::Error>> {
    let directory = tempfile::tempdir()?;
    let path = write_sample(directory.path())?;
    let tail = LogOptions {
        tail_lines: Some(1),
        ..LogOptions::default()
    };
    assert_eq!(read_log(&path, &tail)?, ["three"]);
    let since = LogOptions {
        since: Some("2026-11-25T21:21:10Z".parse()?),
        ..LogOptions::default()
    };
    assert_eq!(read_log(&path, &since)?, ["two", "three"]);
    let stamped = LogOptions {
        timestamps: true,
        tail_lines: Some(1),
        ..LogOptions::default()
    };
    assert_eq!(
        read_log(&path, &stamped)?,
        ["2026-11-25T21:21:11.000000000Z three"]
    );
    let limited = LogOptions {
        limit_bytes: Some(8),
        ..LogOptions::default()
    };
    assert_eq!(read_log(&path, &limited)?, ["one", "two"]);
    Ok(())
}

#[test]
fn previous_picks_the_run_before_the_newest() -> Result<(), Box<dyn std::error::Error>> {
    let directory = tempfile::tempdir()?;
    write_sample(directory.path())?;
    std::fs::write(log_file(directory.path(), "main", 1), "")?;
    assert_eq!(
        find_log_file(directory.path(), "main", false),
        Some(log_file(directory.path(), "main", 1))
    );
    assert_eq!(
        find_log_file(directory.path(), "main", true),
        Some(log_file(directory.path(), "main", 0))
    );
    Ok(())
}

#[tokio::test]
async fn follow_yields_appended_lines_and_the_next_runs_file()
-> Result<(), Box<dyn std::error::Error>> {
    let directory = tempfile::tempdir()?;
    let path = write_sample(directory.path())?;
    let options = LogOptions {
        tail_lines: Some(1),
        ..LogOptions::default()
    };
    let mut stream = Box::pin(follow_log(path.clone(), options));
    assert_eq!(stream.next().await.transpose()?, Some("three".to_owned()));
    let mut file = std::fs::OpenOptions::new().append(true).open(&path)?;
    std::io::Write::write_all(&mut file, b"2026-11-25T21:21:12.000000000Z stdout F four\n")?;
    assert_eq!(stream.next().await.transpose()?, Some("four".to_owned()));
    std::fs::write(
        log_file(directory.path(), "main", 1),
        "2026-11-25T21:21:13.000000000Z stdout F five\n",
    )?;
    assert_eq!(stream.next().await.transpose()?, Some("five".to_owned()));
    Ok(())
}
