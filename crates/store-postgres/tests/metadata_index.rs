//! A metadata filter is served by the GIN index, not by a scan of every account: the plan of
//! the list's statement, with sequential scans priced out, names `accounts_metadata_idx`, and
//! the store answers what matches every pair.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffre_domain::audit::AuditContext;
use coffre_domain::metadata::MetadataFilter;
use coffre_domain::user::{Email, Role};
use coffre_store::{CreateUser, NewUser, PageLimit, PasswordHash, Store};
use coffre_store_postgres::testing::fresh_database;
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn a_metadata_filter_reads_the_gin_index() {
    let (store, url) = fresh_database().await;
    let new = NewUser {
        email: Email::parse("alice@example.com").unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
        role: Role::User,
    };
    let created = store
        .create_user(new, &AuditContext::default())
        .await
        .unwrap();
    assert!(matches!(created, CreateUser::Created(_)));
    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO accounts (id, owner_id, currency, name, balance, held, status, metadata, \
                               created_at, updated_at) \
         SELECT gen_random_uuid(), (SELECT id FROM users), 'EUR', NULL, 0, 0, 'active', \
                CASE WHEN i % 10 = 0 THEN jsonb_build_object('order', i::text, 'shop', 'paris') \
                     WHEN i % 10 = 1 THEN jsonb_build_object('order', i::text) \
                     ELSE '{}' END, \
                now(), now() \
         FROM generate_series(1, 500) AS i; \
         ANALYZE accounts",
    )
    .execute(&mut connection)
    .await
    .unwrap();

    // The statement of `list_accounts_by_metadata` (crates/store-postgres/src/ledger.rs).
    let plan: Vec<String> = sqlx::raw_sql(
        "SET enable_seqscan = off; \
         EXPLAIN WITH matching AS MATERIALIZED ( \
             SELECT id, owner_id, currency, name, balance, held, status, overdraft_limit, \
                    max_balance, metadata, created_at, updated_at \
             FROM accounts WHERE metadata @> '{\"shop\": \"paris\"}'::text::jsonb \
                             AND metadata <> '{}') \
         SELECT id FROM matching \
         WHERE (NULL::uuid IS NULL OR owner_id = NULL) AND (NULL::uuid IS NULL OR id < NULL) \
         ORDER BY id DESC LIMIT 21",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap()
    .iter()
    .map(|row| sqlx::Row::get::<String, _>(row, 0))
    .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("accounts_metadata_idx"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
    assert!(!plan.contains("accounts_pkey"), "{plan}");

    let filter = |pairs: &[(&str, &str)]| {
        MetadataFilter::from_query_pairs(
            pairs
                .iter()
                .map(|(key, value)| (format!("metadata[{key}]"), (*value).to_owned())),
        )
        .unwrap()
    };
    let limit = PageLimit::new(100).unwrap();
    let paris = store
        .list_accounts(None, &filter(&[("shop", "paris")]), limit, None)
        .await
        .unwrap();
    assert_eq!(paris.data.len(), 50);
    assert!(!paris.has_more);
    let one = store
        .list_accounts(
            None,
            &filter(&[("shop", "paris"), ("order", "250")]),
            limit,
            None,
        )
        .await
        .unwrap();
    assert_eq!(one.data.len(), 1);
    assert_eq!(one.data[0].metadata.get("order"), Some("250"));
    let none = store
        .list_accounts(
            None,
            &filter(&[("shop", "paris"), ("order", "251")]),
            limit,
            None,
        )
        .await
        .unwrap();
    assert!(none.data.is_empty());
    connection.close().await.unwrap();
}

/// Transfers, payments, holds and transactions are filtered the same way: each list's
/// statement first materializes the rows its metadata filter matches (`matching` in
/// `list_*_by_metadata`), which its table's partial GIN index serves.
#[tokio::test]
async fn every_labelled_table_is_filtered_through_its_gin_index() {
    let (_store, url) = fresh_database().await;
    let mut connection = PgConnection::connect(&url).await.unwrap();
    for table in ["transfers", "payments", "holds", "transactions"] {
        let sql = format!(
            "SET enable_seqscan = off; \
             EXPLAIN SELECT * FROM {table} \
             WHERE metadata @> '{{\"shop\": \"paris\"}}'::text::jsonb AND metadata <> '{{}}'"
        );
        let plan: Vec<String> = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut connection)
            .await
            .unwrap()
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, 0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains(&format!("{table}_metadata_idx")), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
    connection.close().await.unwrap();
}
