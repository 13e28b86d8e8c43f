//! Runs each database test on the embedded database and, when
//! FINELINE_TEST_DATABASE_URL is set, on PostgreSQL in a throwaway schema.
//! `both_backends!(a, b)` expects `async fn a(database: Arc<dyn Database>)`.

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let database = fineline_db::SqliteDatabase::open(dir.path().join("fineline.db"))
                        .await
                        .unwrap();
                    super::$name(std::sync::Arc::new(database)).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Ok(url) = std::env::var("FINELINE_TEST_DATABASE_URL") else {
                        eprintln!("FINELINE_TEST_DATABASE_URL not set: PostgreSQL skipped");
                        return;
                    };
                    let database = fineline_db::PostgresDatabase::open_isolated(&url).await.unwrap();
                    super::$name(std::sync::Arc::new(database.clone())).await;
                    database.drop_isolated().await.unwrap();
                }
            )*
        }
    };
}
