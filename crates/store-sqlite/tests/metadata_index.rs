//! A metadata filter is served by `account_metadata`'s primary key, not by a scan of every
//! account: the plan of the list's statement searches both tables by key, and the store answers
//! what matches every pair, kept right by the triggers through inserts and updates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffre_domain::audit::AuditContext;
use coffre_domain::metadata::MetadataFilter;
use coffre_domain::user::{Email, Role};
use coffre_store::{CreateUser, NewUser, PageLimit, PasswordHash, Store};
use coffre_store_sqlite::testing::fresh_database;
use sqlx::{Connection, Row, SqliteConnection};

#[tokio::test]
async fn a_metadata_filter_reads_the_pairs_index() {
    let (store, url, _dir) = fresh_database().await;
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
    let mut connection = SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
         INSERT INTO accounts (id, owner_id, currency, name, balance, held, status, metadata, \
                               created_at, updated_at) \
         SELECT randomblob(16), (SELECT id FROM users), 'EUR', NULL, 0, 0, 'active', \
                CASE WHEN i % 10 = 0 THEN json_object('order', CAST(i AS TEXT), 'shop', 'paris') \
                     WHEN i % 10 = 1 THEN json_object('order', CAST(i AS TEXT)) \
                     ELSE '{}' END, \
                '2026-12-01T00:00:00+00:00', '2026-12-01T00:00:00+00:00' \
         FROM n; \
         ANALYZE",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let pairs: i64 = sqlx::query_scalar("SELECT count(*) FROM account_metadata")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(pairs, 150);

    // The statement of `list_accounts_by_metadata` (crates/store-sqlite/src/ledger.rs).
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN QUERY PLAN \
         SELECT id FROM accounts \
         WHERE id IN (SELECT pair.account_id \
                      FROM json_each(?4) AS wanted \
                      CROSS JOIN account_metadata pair \
                        ON pair.key = wanted.key AND pair.value = wanted.value \
                      GROUP BY pair.account_id \
                      HAVING count(*) = (SELECT count(*) FROM json_each(?4))) \
           AND (?1 IS NULL OR owner_id = ?1) AND (?2 IS NULL OR id < ?2) \
         ORDER BY id DESC LIMIT ?3",
    )
    .bind(None::<Vec<u8>>)
    .bind(None::<Vec<u8>>)
    .bind(21_i64)
    .bind(r#"{"shop": "paris"}"#)
    .fetch_all(&mut connection)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>("detail"))
    .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("SEARCH accounts USING"), "{plan}");
    assert!(plan.contains("SEARCH pair USING PRIMARY KEY"), "{plan}");
    assert!(!plan.contains("SCAN accounts"), "{plan}");
    assert!(!plan.contains("SCAN pair"), "{plan}");

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

    // The pairs follow a change of the column, and only a change.
    sqlx::raw_sql(
        "UPDATE accounts SET metadata = json_object('shop', 'lyon') \
         WHERE json_extract(metadata, '$.order') = '250'; \
         UPDATE accounts SET balance = 0",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let paris = store
        .list_accounts(None, &filter(&[("shop", "paris")]), limit, None)
        .await
        .unwrap();
    assert_eq!(paris.data.len(), 49);
    let lyon = store
        .list_accounts(None, &filter(&[("shop", "lyon")]), limit, None)
        .await
        .unwrap();
    assert_eq!(lyon.data.len(), 1);
    let pairs: i64 = sqlx::query_scalar("SELECT count(*) FROM account_metadata")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(pairs, 149);
    connection.close().await.unwrap();
}

/// Transfers, payments, holds and transactions are filtered the same way: the statement of
/// each `list_*_by_metadata` takes the ids from `metadata_pairs`' primary key, one lookup per
/// wanted pair, then each row by its own key.
#[tokio::test]
async fn every_labelled_table_is_filtered_through_the_pairs_index() {
    let (_store, url, _dir) = fresh_database().await;
    let mut connection = SqliteConnection::connect(&url).await.unwrap();
    for (table, resource) in [
        ("transfers", "transfer"),
        ("payments", "payment"),
        ("holds", "hold"),
        ("transactions", "transaction"),
    ] {
        let sql = format!(
            "EXPLAIN QUERY PLAN \
             SELECT row.id FROM {table} row \
             WHERE row.id IN (SELECT pair.id \
                              FROM json_each(?1) AS wanted \
                              CROSS JOIN metadata_pairs pair \
                                ON pair.resource = '{resource}' AND pair.key = wanted.key \
                                   AND pair.value = wanted.value \
                              GROUP BY pair.id \
                              HAVING count(*) = (SELECT count(*) FROM json_each(?1))) \
             ORDER BY row.id DESC LIMIT 21"
        );
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(r#"{"shop": "paris"}"#)
            .fetch_all(&mut connection)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("SEARCH row USING"), "{table}: {plan}");
        assert!(
            plan.contains("SEARCH pair USING PRIMARY KEY"),
            "{table}: {plan}"
        );
        assert!(!plan.contains("SCAN row"), "{table}: {plan}");
        assert!(!plan.contains("SCAN pair"), "{table}: {plan}");
    }
    connection.close().await.unwrap();
}
