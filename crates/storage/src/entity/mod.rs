pub mod aggregate_delta;
pub mod click;
pub mod click_daily_stat;
pub mod click_export;
pub mod click_hourly_stat;
pub mod report_date_version;
