//! The migrated schema: the exact-identity migration, and every entity against its table.

use testkit::TestDb;

/// The migration to exact identity converts tables that already hold rows:
/// before it, `"a"` and `"a "` collide on the unique key; after it, both fit,
/// and the rows already there are kept.
#[tokio::test]
async fn the_exact_identity_migration_converts_existing_tables() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;

    let db = TestDb::create().await;
    let insert = |id: &str| {
        format!(
            "INSERT INTO clicks (click_id, offer_id, source, clicked_at, click_date, signature, received_at, batch_token) \
             VALUES ('{id}', 1, 'net', '2025-06-10 10:00:00', '2025-06-10', 's', '2025-06-10 10:00:00', 1)"
        )
    };
    let collations = "SELECT COUNT(*) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IN ('click_id', 'source') \
         AND COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')";
    // The newest two: the aggregate deltas' table, then exact identity.
    Migrator::down(&db.conn, Some(2))
        .await
        .expect("back to PAD SPACE");
    assert_eq!(db.scalar(collations).await, 0);
    db.conn
        .execute_unprepared(&insert("a"))
        .await
        .expect("first row");
    let padded = db.conn.execute_unprepared(&insert("a ")).await;
    assert!(padded.is_err(), "PAD SPACE: 'a ' collides with 'a'");

    Migrator::up(&db.conn, None)
        .await
        .expect("to exact identity");
    // clicks.click_id, clicks.source and the source of three aggregates.
    assert_eq!(db.scalar(collations).await, 5);
    db.conn
        .execute_unprepared(&insert("a "))
        .await
        .expect("'a ' is a new id");
    assert_eq!(db.click_count().await, 2);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM clicks WHERE click_id = 'a'")
            .await,
        1
    );
    db.drop().await;
}

/// Each SeaORM entity of `storage` matches its migrated table: the same
/// columns, each of a compatible type, signedness and nullability — so an
/// entity cannot drift from the schema the migrations make.
#[tokio::test]
async fn every_entity_matches_its_migrated_table() {
    use storage::entity::{aggregate_delta, click, click_export, report_date_version};

    let db = TestDb::create().await;
    entity_matches_table::<aggregate_delta::Entity>(&db).await;
    entity_matches_table::<click::Entity>(&db).await;
    entity_matches_table::<click_export::Entity>(&db).await;
    entity_matches_table::<report_date_version::Entity>(&db).await;
    db.drop().await;
}

async fn entity_matches_table<E: sea_orm::EntityTrait>(db: &TestDb) {
    use std::collections::BTreeMap;

    use sea_orm::{ColumnTrait, ColumnType, ConnectionTrait, IdenStatic, Iterable};

    let table = E::default().table_name().to_owned();
    let rows = db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::MySql,
            format!(
                "SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, \
                 IS_NULLABLE AS nullable FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
            ),
        ))
        .await
        .expect("columns");
    // name → (data type, unsigned, nullable)
    let mut migrated: BTreeMap<String, (String, bool, bool)> = rows
        .iter()
        .map(|row| {
            let text = |column: &str| -> String { row.try_get("", column).expect(column) };
            (
                text("name"),
                (
                    text("data_type").to_lowercase(),
                    text("column_type").to_lowercase().contains("unsigned"),
                    text("nullable") == "YES",
                ),
            )
        })
        .collect();
    assert!(!migrated.is_empty(), "table {table} is not migrated");
    for column in E::Column::iter() {
        let name = column.as_str().to_owned();
        let def = column.def();
        let (types, unsigned): (&[&str], bool) = match def.get_column_type() {
            ColumnType::BigUnsigned => (&["bigint"], true),
            ColumnType::Unsigned => (&["int"], true),
            ColumnType::BigInteger => (&["bigint"], false),
            ColumnType::Integer => (&["int"], false),
            ColumnType::String(_) | ColumnType::Text => (
                &["varchar", "char", "text", "mediumtext", "longtext"],
                false,
            ),
            ColumnType::DateTime => (&["datetime"], false),
            ColumnType::Date => (&["date"], false),
            other => panic!("{table}.{name}: teach this test the type {other:?}"),
        };
        let (data_type, is_unsigned, nullable) = migrated
            .remove(&name)
            .unwrap_or_else(|| panic!("{table}.{name} is in the entity, not in the table"));
        assert!(
            types.contains(&data_type.as_str()),
            "{table}.{name}: entity {:?}, table {data_type}",
            def.get_column_type()
        );
        assert_eq!(is_unsigned, unsigned, "{table}.{name}: unsigned");
        assert_eq!(nullable, def.is_null(), "{table}.{name}: nullable");
    }
    assert!(
        migrated.is_empty(),
        "{table} has columns its entity does not name: {:?}",
        migrated.keys().collect::<Vec<_>>()
    );
}
