pub mod click;
pub mod click_daily_stat;
