pub mod aggregate_delta;
pub mod click;
pub mod click_export;
pub mod report_date_version;
