//! The Finance export's records, set as a crashed exporter leaves them.

use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

use crate::entity::click_export;

/// Makes every export lease run out (a second ago, by the server's clock,
/// which the lease checks use), as a crashed exporter's lease does: for
/// tests of an export taken over. Returns the records changed.
pub async fn expire_export_leases(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    click_export::Entity::update_many()
        .col_expr(
            click_export::Column::LeaseExpiresAt,
            Expr::cust("UTC_TIMESTAMP(6) - INTERVAL 1 SECOND"),
        )
        .exec(db)
        .await
        .map(|updated| updated.rows_affected)
}
