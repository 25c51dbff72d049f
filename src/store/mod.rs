//! All SQL lives under `store/`. One `AnyPool` over SQLite or PostgreSQL, chosen by the URL
//! scheme; one portable SQL text per query (`$n` bind parameters, BIGINT integers and flags,
//! TEXT ids); migrations per backend with identical file names. Must not depend on axum or rmcp.

pub mod billing;
pub mod codes;
pub mod credentials;
pub mod ledger;
pub mod outbox;
pub mod tasks;
pub mod users;

use std::{path::PathBuf, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    AnyConnection, AnyPool, Executor, Transaction,
    any::{Any, AnyPoolOptions},
    migrate::Migrator,
    pool::PoolConnection,
    sqlite::SqliteConnectOptions,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!("CLARA_DATABASE_URL must start with sqlite:// or postgres://")
        }
    }
}

/// The database handle every service uses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The database file, on SQLite.
    sqlite_file: Option<PathBuf>,
}

impl Store {
    /// Connects (creating a SQLite file and its directory when missing). Does not migrate.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let url = match backend {
            Backend::Sqlite => {
                let url = prepare_sqlite(url).await?;
                // SQLite allows one writer; a small pool keeps readers concurrent under WAL.
                // A connection to a local file does not go stale, so the pool does not ping it
                // before each use (a round trip to sqlx's connection thread per query).
                options = options
                    .max_connections(8)
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    });
                url
            }
            Backend::Postgres => {
                options = options.max_connections(16);
                url.to_string()
            }
        };
        let pool = options
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        let mut sqlite_file = None;
        if backend == Backend::Sqlite {
            // The database holds MACs, sealed secrets and queued mail: the owner's only.
            let file = SqliteConnectOptions::from_str(&url)?
                .get_filename()
                .to_path_buf();
            let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", file.display()));
            crate::secrets::private_files(&[file.clone(), with("-wal"), with("-shm")])?;
            sqlite_file = Some(file);
        }
        Ok(Self {
            pool,
            backend,
            sqlite_file,
        })
    }

    /// Applies the migrations of this backend, one process at a time: sqlx holds a PostgreSQL
    /// advisory lock while it migrates; SQLite has none, so a lock file beside the database
    /// does the same (processes starting together on a new data directory take turns).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let _turn = match &self.sqlite_file {
            Some(file) => Some(migration_lock(file).await?),
            None => None,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying migrations")?;
        Ok(())
    }

    /// Answers when the database answers a query against the migrated schema.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM schema_info")
            .fetch_one(&self.pool)
            .await
            .map(|_| ())
    }

    /// A pooled connection for one or a few independent statements.
    pub async fn conn(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        self.pool.acquire().await
    }

    /// A transaction. Every transaction in this crate starts with a write, so SQLite takes the
    /// write lock at its first statement and never has to upgrade a read lock.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.pool.begin().await
    }

    /// A transaction that reads before it writes: on SQLite it takes the write lock at BEGIN
    /// (`BEGIN IMMEDIATE`), so two of them never read the same state and then both write; on
    /// PostgreSQL the reads that matter lock their rows (`FOR UPDATE`, see [`Store::lock_clause`]).
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// ` FOR UPDATE` on PostgreSQL (SQLite has no row locks; `begin_write` holds the database).
    pub fn lock_clause(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// An exclusive lock on `<database>.migrate.lock`, held until the returned file is dropped.
async fn migration_lock(database: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = PathBuf::from(format!("{}.migrate.lock", database.display()));
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(file)
    })
    .await?
}

/// Creates the directory of a SQLite file and asks sqlx to create the file itself.
async fn prepare_sqlite(url: &str) -> anyhow::Result<String> {
    let options = SqliteConnectOptions::from_str(url).context("parsing the SQLite URL")?;
    let path = options.get_filename().to_path_buf();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::secrets::private_dir(dir)?;
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(if url.contains("mode=") {
        url.to_string()
    } else {
        format!("{url}{sep}mode=rwc")
    })
}

/// Maps a unique-constraint violation to `on_conflict`, anything else through `From`.
pub fn unique_or(err: sqlx::Error, on_conflict: crate::error::Error) -> crate::error::Error {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => on_conflict,
        _ => err.into(),
    }
}

/// Runs a statement and tells whether it changed any row.
pub(crate) async fn changed(
    conn: &mut AnyConnection,
    query: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
) -> Result<bool, sqlx::Error> {
    Ok(query.execute(conn).await?.rows_affected() > 0)
}
