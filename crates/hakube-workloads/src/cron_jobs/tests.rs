//! Unit tests of the CronJob controller's decisions, driven through an in-memory namespace
//! where the test finishes the Jobs.

mod concurrency;
mod history;
mod scheduling;
mod world;
