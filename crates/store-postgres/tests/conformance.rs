//! The storage conformance suite, on a fresh PostgreSQL database per case.

coffre_store::conformance_tests!(coffre_store_postgres::testing::fresh_store);
