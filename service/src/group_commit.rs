//! Group commit: concurrent writes on one pool share one transaction, one commit and
//! one WAL flush (docs/decisions.md, "Group commit").
//!
//! A request hands its writes to its pool's [`GroupCommit`] and waits. One dispatcher
//! per pool takes what is queued into a batch and commits it on a connection of the
//! pool, with at most `in_flight` batches committing at once:
//!
//! * **No wait when idle.** A request that finds a free slot is written at once, a
//!   batch of one. The wait is adaptive: only while every slot is committing do
//!   requests gather, and the next free slot takes all of them (up to
//!   [`MAX_BATCH`]). The longest a request waits for a slot is one commit.
//! * **Answered after commit.** A request's answer (its output, or its error) is sent
//!   only once the transaction holding its writes committed.
//! * **Honest failure.** When a batch's transaction fails (a unique violation in one
//!   member's row, a deadlock), it is rolled back and every member is written again
//!   **alone**, in a transaction of its own (retried on a deadlock or serialization
//!   failure), and answered with its own outcome: one bad row fails only its request.
//! * **Rows of one shape in one statement.** A member that only inserts one row
//!   ([`GroupCommit::insert`]) is inserted with the batch's other rows of that table
//!   in one multi-row `INSERT`; other members ([`Work`]) run their own statements, in
//!   order, in the batch's transaction (a refresh rotation's lock, a code's
//!   consumption and the tokens they mint stay together).
//!
//! Within one transaction a member sees the writes of the members before it, so a
//! second rotation of one refresh token in the same batch finds it revoked, as it
//! would after the first committed: the exactly-one-winner guarantees hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Alias, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityName, EntityTrait, IdenStatic, Iterable, RuntimeErr, TransactionOptions,
    TransactionTrait, Value,
};
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::error::Error;

/// Evaluates `$attempt` (an expression running one whole transaction) again, up to
/// three times in all, when the database aborted it as a deadlock or serialization
/// failure — transient by definition ("try restarting transaction"). Each attempt
/// is a fresh transaction. (A macro, not a function taking a closure: the futures
/// must stay `Send` for axum.)
macro_rules! with_retry {
    ($attempt:expr) => {{
        let mut tries: u64 = 0;
        loop {
            tries += 1;
            match $attempt {
                Err($crate::error::Error::Database(error))
                    if tries < 3 && $crate::group_commit::is_transient(&error) =>
                {
                    tracing::debug!(%error, tries, "retrying a transaction");
                    tokio::time::sleep(std::time::Duration::from_millis(5 * tries)).await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use with_retry;

/// The most members one batch takes: bounds a statement's parameters (128 rows of 11
/// columns, far below every backend's limit) and the work one failure repeats.
pub const MAX_BATCH: usize = 128;

/// Requests that may queue for one pool before a new one waits to be queued
/// (back-pressure, never an unbounded queue).
const QUEUE_CAPACITY: usize = 4096;

/// One row to insert: the table, its columns, and the values in column order.
#[derive(Clone, Debug)]
pub struct Row {
    /// The table.
    pub table: &'static str,
    /// Its columns, in the order of `values`.
    pub columns: Vec<&'static str>,
    /// One value per column.
    pub values: Vec<Value>,
}

impl Row {
    /// The row `model` would insert: its entity's table and the columns it sets.
    pub fn of<A: ActiveModelTrait>(model: &A) -> Self {
        let mut row = Self {
            table: A::Entity::default().table_name(),
            columns: Vec::new(),
            values: Vec::new(),
        };
        for column in <A::Entity as EntityTrait>::Column::iter() {
            if let ActiveValue::Set(value) = model.get(column) {
                row.columns.push(column.as_str());
                row.values.push(value);
            }
        }
        row
    }
}

/// A request's writes that run statements of their own inside a transaction, and
/// what they answer. Written again from scratch, alone, if its batch fails, so it
/// keeps its inputs and only reads them.
pub trait Work: Send + Sync + 'static {
    /// What the request is answered with once committed.
    type Output: Send + Sync + 'static;

    /// Runs the writes on `transaction`.
    fn write<'a>(
        &'a self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<Self::Output, Error>>;
}

/// Counters of one pool's group commit (`/metrics`, tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupCommitCounts {
    /// Transactions committed or attempted for a batch (one per batch).
    pub batches: u64,
    /// Members written in those batches.
    pub members: u64,
    /// Members written again alone because their batch failed.
    pub written_alone: u64,
    /// Requests handed to the dispatcher (queued) so far.
    pub enqueued: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    members: AtomicU64,
    written_alone: AtomicU64,
    enqueued: AtomicU64,
}

/// One pool's group commit: a queue and the dispatcher behind it.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    queue: mpsc::Sender<Member>,
    counters: Arc<Counters>,
}

impl GroupCommit {
    /// Starts the dispatcher of `pool` (a task that ends when every handle is
    /// dropped). `writer_turn` is a SQLite pool's writer queue, held for each
    /// transaction; `in_flight` (at least 1) the batches that commit at once.
    pub fn start(
        pool: DatabaseConnection,
        writer_turn: Option<Arc<Mutex<()>>>,
        in_flight: usize,
    ) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let pool = Pool {
            connection: pool,
            writer_turn,
            counters: Arc::clone(&counters),
        };
        tokio::spawn(dispatch(
            requests,
            Arc::new(pool),
            Arc::new(Semaphore::new(in_flight.max(1))),
        ));
        Self { queue, counters }
    }

    /// Inserts `row`, possibly in one statement with other requests' rows; returns
    /// once it committed.
    pub async fn insert(&self, row: Row) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Member::Row { row, reply }).await?;
        answer.await.map_err(|_| dispatcher_gone())?
    }

    /// Runs `work` in a batch's transaction; returns its output once it committed.
    pub async fn run<W: Work>(&self, work: W) -> Result<W::Output, Error> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Member::Work(Box::new(PendingWork {
            work,
            output: None,
            reply,
        })))
        .await?;
        answer.await.map_err(|_| dispatcher_gone())?
    }

    /// What this pool's group commit has done so far.
    pub fn counts(&self) -> GroupCommitCounts {
        GroupCommitCounts {
            batches: self.counters.batches.load(Ordering::Relaxed),
            members: self.counters.members.load(Ordering::Relaxed),
            written_alone: self.counters.written_alone.load(Ordering::Relaxed),
            enqueued: self.counters.enqueued.load(Ordering::Relaxed),
        }
    }

    async fn enqueue(&self, member: Member) -> Result<(), Error> {
        self.queue
            .send(member)
            .await
            .map_err(|_| dispatcher_gone())?;
        self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn dispatcher_gone() -> Error {
    Error::Database(DbErr::Custom(
        "the pool's group commit stopped (shutting down)".to_owned(),
    ))
}

/// Whether the database aborted a statement for a reason that a fresh transaction
/// can overcome, by its error code (never its message text): a deadlock or a
/// serialization failure (PostgreSQL SQLSTATE `40P01`, `40001`; MySQL/MariaDB error
/// 1213 `ER_LOCK_DEADLOCK`, SQLSTATE `40001`), or SQLite busy or locked (primary
/// result codes 5 and 6, whatever their extended form).
pub fn is_transient(error: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error))) =
        error
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(error) = error.as_ref() else {
        return false;
    };
    if let Some(mysql) = error.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return mysql.number() == 1213 || mysql.code() == Some("40001");
    }
    let code = error.code();
    let code = code.as_deref().unwrap_or("");
    if error
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return code
            .parse::<u32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6));
    }
    matches!(code, "40P01" | "40001")
}

/// A queued request.
enum Member {
    Row {
        row: Row,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Work(Box<dyn Pending>),
}

impl std::fmt::Debug for Member {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Row { row, .. } => write!(formatter, "Row({})", row.table),
            Self::Work(_) => formatter.write_str("Work"),
        }
    }
}

impl Member {
    fn answer(self, committed: Result<(), Error>) {
        match self {
            // The requester may have hung up: its row is stored all the same.
            Self::Row { reply, .. } => {
                let _ = reply.send(committed);
            }
            Self::Work(pending) => pending.answer(committed),
        }
    }
}

/// A [`Work`] with its output kept until its transaction committed.
trait Pending: Send + Sync {
    fn write<'a>(
        &'a mut self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<(), Error>>;
    fn answer(self: Box<Self>, committed: Result<(), Error>);
}

struct PendingWork<W: Work> {
    work: W,
    output: Option<W::Output>,
    reply: oneshot::Sender<Result<W::Output, Error>>,
}

impl<W: Work> Pending for PendingWork<W> {
    fn write<'a>(
        &'a mut self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            self.output = Some(self.work.write(transaction).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, committed: Result<(), Error>) {
        let PendingWork { output, reply, .. } = *self;
        let outcome = committed.and_then(|()| {
            output.ok_or_else(|| {
                Error::Database(DbErr::Custom("a committed write left no output".to_owned()))
            })
        });
        let _ = reply.send(outcome);
    }
}

/// The pool a dispatcher writes to.
struct Pool {
    connection: DatabaseConnection,
    writer_turn: Option<Arc<Mutex<()>>>,
    counters: Arc<Counters>,
}

async fn dispatch(mut requests: mpsc::Receiver<Member>, pool: Arc<Pool>, slots: Arc<Semaphore>) {
    while let Some(first) = requests.recv().await {
        // While every slot is committing, requests gather in the queue.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let mut batch = Vec::with_capacity(requests.len().min(MAX_BATCH) + 1);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(member) => batch.push(member),
                Err(_) => break,
            }
        }
        tokio::spawn(commit(Arc::clone(&pool), batch, slot));
    }
}

async fn commit(pool: Arc<Pool>, mut batch: Vec<Member>, _slot: OwnedSemaphorePermit) {
    pool.counters.batches.fetch_add(1, Ordering::Relaxed);
    pool.counters
        .members
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    if batch.len() > 1 {
        match pool.write_together(&mut batch).await {
            Ok(()) => {
                for member in batch {
                    member.answer(Ok(()));
                }
                return;
            }
            Err(error) => {
                tracing::debug!(%error, members = batch.len(), "a batch failed: writing its members alone");
                pool.counters
                    .written_alone
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }
    for mut member in batch {
        let outcome = pool.write_alone(&mut member).await;
        member.answer(outcome);
    }
}

impl Pool {
    /// The SQLite writer's turn, where the pool has one.
    async fn turn(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.writer_turn {
            Some(queue) => Some(Arc::clone(queue).lock_owned().await),
            None => None,
        }
    }

    async fn begin(&self) -> Result<(Option<OwnedMutexGuard<()>>, DatabaseTransaction), Error> {
        let turn = self.turn().await;
        Ok((turn, begin_write(&self.connection).await?))
    }

    /// One transaction for the whole batch: the rows first (one statement per
    /// table), then each work in queue order.
    async fn write_together(&self, batch: &mut [Member]) -> Result<(), Error> {
        let (_turn, transaction) = self.begin().await?;
        let written = write_members(&transaction, batch).await;
        finish(transaction, written).await
    }

    /// A member in a transaction of its own, retried (fresh transaction) on a
    /// deadlock or serialization failure, up to three tries.
    async fn write_alone(&self, member: &mut Member) -> Result<(), Error> {
        with_retry!({
            match member {
                // One statement: autocommit, one round trip.
                Member::Row { row, .. } => {
                    let _turn = self.turn().await;
                    insert_rows(&self.connection, &[&*row]).await
                }
                Member::Work(_) => {
                    let (_turn, transaction) = self.begin().await?;
                    let written = write_members(&transaction, std::slice::from_mut(member)).await;
                    finish(transaction, written).await
                }
            }
        })
    }
}

async fn write_members(
    transaction: &DatabaseTransaction,
    batch: &mut [Member],
) -> Result<(), Error> {
    let mut tables: Vec<&'static str> = Vec::new();
    for member in batch.iter() {
        if let Member::Row { row, .. } = member
            && !tables.contains(&row.table)
        {
            tables.push(row.table);
        }
    }
    for table in tables {
        let mut rows: Vec<&Row> = Vec::new();
        for member in batch.iter() {
            if let Member::Row { row, .. } = member
                && row.table == table
            {
                rows.push(row);
            }
        }
        insert_rows(transaction, &rows).await?;
    }
    for member in batch.iter_mut() {
        if let Member::Work(pending) = member {
            pending.write(transaction).await?;
        }
    }
    Ok(())
}

/// Multi-row `INSERT`s of `rows` (all of one table and one column list), in chunks
/// of a power of two (45 rows: 32 + 8 + 4 + 1), so a table has at most eight
/// statement texts, not one per batch size: the driver prepares each text once per
/// connection and keeps 100 in its cache, and 128 texts of one insert would push the
/// hot statements out.
async fn insert_rows(connection: &impl ConnectionTrait, rows: &[&Row]) -> Result<(), Error> {
    let mut rest = rows;
    while !rest.is_empty() {
        let chunk = chunk_size(rest.len());
        let (now, later) = rest.split_at(chunk);
        insert_chunk(connection, now).await?;
        rest = later;
    }
    Ok(())
}

/// The largest power of two not above `remaining` (at least 1).
fn chunk_size(remaining: usize) -> usize {
    1 << (usize::BITS - 1 - remaining.max(1).leading_zeros())
}

async fn insert_chunk(connection: &impl ConnectionTrait, rows: &[&Row]) -> Result<(), Error> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new(first.table))
        .columns(first.columns.iter().map(|column| Alias::new(*column)));
    for row in rows {
        insert
            .values(row.values.iter().cloned().map(SimpleExpr::Value))
            .map_err(|error| Error::Database(DbErr::Custom(error.to_string())))?;
    }
    let statement = connection.get_database_backend().build(&insert);
    connection.execute_raw(statement).await?;
    Ok(())
}

/// A write transaction on `connection`. On SQLite it runs `BEGIN IMMEDIATE`: the
/// write lock is taken at once, so a read-then-write never fails to upgrade
/// (`SQLITE_BUSY`).
pub async fn begin_write(connection: &DatabaseConnection) -> Result<DatabaseTransaction, Error> {
    Ok(connection
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?)
}

/// Commits on `Ok`, rolls back on `Err` (explicitly, so the connection returns to the
/// pool at once).
async fn finish(transaction: DatabaseTransaction, written: Result<(), Error>) -> Result<(), Error> {
    match written {
        Ok(()) => Ok(transaction.commit().await?),
        Err(error) => {
            if let Err(rollback) = transaction.rollback().await {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_size;

    #[test]
    fn rows_go_in_power_of_two_chunks() {
        let mut sizes = Vec::new();
        let mut remaining = 45;
        while remaining > 0 {
            let chunk = chunk_size(remaining);
            sizes.push(chunk);
            remaining -= chunk;
        }
        assert_eq!(sizes, [32, 8, 4, 1]);
        assert_eq!(chunk_size(1), 1);
        assert_eq!(chunk_size(128), 128);
        assert_eq!(chunk_size(127), 64);
    }
}
