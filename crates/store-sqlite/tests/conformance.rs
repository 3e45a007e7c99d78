//! The storage conformance suite, on a fresh SQLite database file per case.

coffre_store::conformance_tests!(coffre_store_sqlite::testing::fresh_store);
