//! The report cache keeps each restriction's answers apart.

use crate::keys_support::ok_as;
use crate::reports_support::Api;

use super::{CALLERS, FULL, RANGE, seeded};

#[tokio::test]
async fn the_cache_never_serves_one_keys_rows_to_another() {
    let (db, file) = seeded().await;
    let api = Api::start(&db, &[&file.flag()]).await;
    let net_a = &CALLERS[1];
    for path in [
        format!("/api/reports/summary?{RANGE}"),
        format!("/api/reports/summary?{RANGE}&timezone=America/New_York&interval=hour"),
        format!("/api/reports/aggregated?{RANGE}&group_by=source"),
        format!("/api/reports/aggregated?{RANGE}"),
    ] {
        let (first, full) = api.cached_as(FULL.key, &path).await;
        assert_eq!(first, "miss", "{path}");
        let (again, cached) = api.cached_as(FULL.key, &path).await;
        assert_eq!((again.as_str(), &cached), ("hit", &full), "{path}");

        let (first, own) = api.cached_as(net_a.key, &path).await;
        assert_eq!(first, "miss", "{path}: the unrestricted answer was served");
        assert_ne!(own, full, "{path}");
        let (again, cached) = api.cached_as(net_a.key, &path).await;
        assert_eq!((again.as_str(), &cached), ("hit", &own), "{path}");
        // Another restriction has its own entry too.
        assert_eq!(
            api.cached_as(CALLERS[3].key, &path).await.0,
            "miss",
            "{path}"
        );
        assert_eq!(
            api.cached_as(FULL.key, &path).await,
            ("hit".to_owned(), full)
        );
    }
    let summary = ok_as(&api, net_a.key, &format!("/api/reports/summary?{RANGE}")).await;
    assert_eq!(summary["summary"]["total_clicks"], 5 + 7 + 2 + 3 + 4);
    assert_eq!(
        summary["top_sources"],
        serde_json::json!([{"source": "net_a", "clicks_count": 21}])
    );
    api.stop();
    file.remove();
    db.drop().await;
}
