//! The history and recovery reads must stay index scans on `(chat_id, seq)` as a chat
//! grows. These EXPLAIN the exact queries the repository runs, on enough rows (and
//! fresh statistics) that the planner would pick a sequential scan if no index fit.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::queries;
use crate::testing::TestDatabase;
use crate::PgBackend;

/// `EXPLAIN <query>`, with the query's own bind values.
struct Explain<Q>(Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<Q> {
    type SqlType = diesel::sql_types::Text;
}

async fn plan_of(conn: &mut AsyncPgConnection, query: queries::MessageQuery) -> String {
    let lines: Vec<String> = Explain(query).load(conn).await.expect("EXPLAIN runs");
    lines.join("\n")
}

const CHATS: i64 = 20;
const PER_CHAT: i64 = 2000;

async fn seed(conn: &mut AsyncPgConnection) -> Uuid {
    let user = Uuid::new_v4();
    let statements = [
        format!(
            "INSERT INTO users (id, username, display_name, password_hash, created_at) \
             VALUES ('{user}', 'planner', 'planner', 'x', now())"
        ),
        format!(
            "INSERT INTO chats (id, name, created_by, created_at, last_seq) \
             SELECT gen_random_uuid(), 'chat ' || g, '{user}', now(), {PER_CHAT} \
             FROM generate_series(1, {CHATS}) g"
        ),
        format!(
            "INSERT INTO messages (id, chat_id, sender_id, content, seq, created_at, pinned_at) \
             SELECT gen_random_uuid(), c.id, '{user}', 'message ' || s, s, now(), \
                    CASE WHEN s % 100 = 0 THEN now() END \
             FROM chats c, generate_series(1, {PER_CHAT}) s"
        ),
        "ANALYZE".to_owned(),
    ];
    for statement in statements {
        diesel::sql_query(statement)
            .execute(conn)
            .await
            .expect("seeding");
    }
    diesel::sql_query("SELECT id FROM chats LIMIT 1")
        .load::<ChatIdRow>(conn)
        .await
        .expect("a chat")
        .remove(0)
        .id
}

#[derive(diesel::QueryableByName)]
struct ChatIdRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

fn assert_ordered_index_scan(plan: &str, what: &str) {
    assert!(
        plan.contains("Index Scan") && plan.contains("messages_chat_id_seq_key"),
        "{what} must scan the (chat_id, seq) index:\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan"),
        "{what} must not scan the table:\n{plan}"
    );
    assert!(
        !plan.contains("Sort"),
        "{what} must be ordered by the index, not sorted:\n{plan}"
    );
}

#[tokio::test]
async fn history_and_recovery_reads_use_the_chat_seq_index() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let backend = PgBackend::connect(db.url()).unwrap();
    backend.run_migrations().await.unwrap();
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    let chat = seed(&mut conn).await;

    let newest = plan_of(&mut conn, queries::history_page(chat, None, 50)).await;
    assert_ordered_index_scan(&newest, "the newest history page");
    assert!(
        newest.contains("Backward"),
        "newest first is a backward scan:\n{newest}"
    );

    let older = plan_of(&mut conn, queries::history_page(chat, Some(1000), 50)).await;
    assert_ordered_index_scan(&older, "an older history page");

    let missed = plan_of(&mut conn, queries::since_seq(chat, 1500, 100)).await;
    assert_ordered_index_scan(&missed, "since_seq recovery");

    let pinned = plan_of(&mut conn, queries::pinned(chat)).await;
    assert!(
        !pinned.contains("Seq Scan"),
        "pinned must not scan the table:\n{pinned}"
    );

    drop(conn);
    drop(backend);
    db.drop_database().await;
}
