//! Users in PostgreSQL: registration, the admin command, lookups and an admin's changes under
//! the last-admin guard.

use coffre_domain::audit::{AuditContext, NewAuditEvent};
use coffre_domain::identity_events::{password_reset, registered, user_changed, users_listed};
use coffre_domain::ids::UserId;
use coffre_domain::time::Timestamp;
use coffre_domain::user::{Email, Role};
use coffre_store::user_update::{UserUpdateBackend, update_user};
use coffre_store::{
    CreateUser, EnsureAdmin, LoginRecord, NewUser, Page, PageLimit, PasswordHash,
    SessionRevocation, StoreError, UpdateUser, User, UserChanges, UserRow,
};
use sqlx::{PgConnection, PgPool};

use crate::audit::append_audit;
use crate::error::{internal, map_error};

/// The unique constraint that makes an email taken.
const EMAIL_KEY: &str = "users_email_key";

/// The transaction-scoped advisory lock every change of a user's role or disabled flag takes
/// first. Counting the admins and then removing one is a check-then-act that row locks cannot
/// protect (two admins demoting each other lock different rows), so those changes run one at a
/// time. The value is arbitrary, unique within Coffre: "coffre" in ASCII, then 1.
const LAST_ADMIN_GUARD_LOCK: i64 = 0x636f_6666_7265_0001;

fn decode(row: UserRow) -> Result<User, StoreError> {
    row.into_user().map_err(internal)
}

pub(crate) async fn create(
    pool: PgPool,
    new: NewUser,
    ctx: AuditContext,
) -> Result<CreateUser, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let now = Timestamp::now().as_datetime();
    let inserted = sqlx::query_as!(
        UserRow,
        "INSERT INTO users (id, email, password_hash, role, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, FALSE, $5, $5) \
         RETURNING id, email, role, disabled, created_at, updated_at",
        UserId::new().as_uuid(),
        new.email.as_str(),
        new.password_hash.as_str(),
        new.role.as_str(),
        now,
    )
    .fetch_one(&mut *transaction)
    .await;
    let row = match inserted.map_err(map_error) {
        Ok(row) => row,
        Err(StoreError::Constraint { constraint }) if constraint == EMAIL_KEY => {
            transaction.rollback().await.map_err(map_error)?;
            return Ok(CreateUser::EmailTaken);
        }
        Err(error) => return Err(error),
    };
    let user = decode(row)?;
    append_audit(&mut transaction, vec![registered(&user, &ctx)]).await?;
    transaction.commit().await.map_err(map_error)?;
    Ok(CreateUser::Created(user))
}

pub(crate) async fn ensure_admin(
    pool: PgPool,
    email: Email,
    password_hash: PasswordHash,
    ctx: AuditContext,
) -> Result<EnsureAdmin, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let now = Timestamp::now();
    // ON CONFLICT waits for a concurrent registration of the same email and then does nothing,
    // so the user is either inserted here or there to be locked below.
    let inserted = sqlx::query_as!(
        UserRow,
        "INSERT INTO users (id, email, password_hash, role, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, 'admin', FALSE, $4, $4) \
         ON CONFLICT (email) DO NOTHING \
         RETURNING id, email, role, disabled, created_at, updated_at",
        UserId::new().as_uuid(),
        email.as_str(),
        password_hash.as_str(),
        now.as_datetime(),
    )
    .fetch_optional(&mut *transaction)
    .await
    .map_err(map_error)?;
    let outcome = match inserted {
        Some(row) => {
            let user = decode(row)?;
            append_audit(&mut transaction, vec![registered(&user, &ctx)]).await?;
            EnsureAdmin::Created(user)
        }
        None => {
            let row = sqlx::query_as!(
                UserRow,
                "SELECT id, email, role, disabled, created_at, updated_at \
                 FROM users WHERE email = $1 FOR UPDATE",
                email.as_str(),
            )
            .fetch_one(&mut *transaction)
            .await
            .map_err(map_error)?;
            let before = decode(row)?;
            let after = User {
                role: Role::Admin,
                disabled: false,
                updated_at: now,
                ..before.clone()
            };
            sqlx::query!(
                "UPDATE users SET role = $2, disabled = $3, password_hash = $4, updated_at = $5 \
                 WHERE id = $1",
                after.id.as_uuid(),
                after.role.as_str(),
                after.disabled,
                password_hash.as_str(),
                now.as_datetime(),
            )
            .execute(&mut *transaction)
            .await
            .map_err(map_error)?;
            let mut events = user_changed(&before, &after, &ctx);
            crate::sessions::revoke_all_of(
                &mut transaction,
                after.id,
                now,
                SessionRevocation::PasswordReset,
            )
            .await?;
            events.push(password_reset(&after, &ctx));
            append_audit(&mut transaction, events).await?;
            EnsureAdmin::Promoted(after)
        }
    };
    transaction.commit().await.map_err(map_error)?;
    Ok(outcome)
}

pub(crate) async fn find_login(
    pool: &PgPool,
    email: &Email,
) -> Result<Option<LoginRecord>, StoreError> {
    let row = sqlx::query!(
        "SELECT id, email, role, disabled, created_at, updated_at, password_hash \
         FROM users WHERE email = $1",
        email.as_str(),
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?;
    row.map(|row| {
        let user = decode(UserRow {
            id: row.id,
            email: row.email,
            role: row.role,
            disabled: row.disabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })?;
        Ok(LoginRecord {
            user,
            password_hash: PasswordHash::new(row.password_hash),
        })
    })
    .transpose()
}

pub(crate) async fn find(pool: &PgPool, id: UserId) -> Result<Option<User>, StoreError> {
    sqlx::query_as!(
        UserRow,
        "SELECT id, email, role, disabled, created_at, updated_at FROM users WHERE id = $1",
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(decode)
    .transpose()
}

pub(crate) async fn list(
    pool: PgPool,
    limit: PageLimit,
    starting_after: Option<UserId>,
    ctx: AuditContext,
) -> Result<Page<User>, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    // A cursor naming no user matches nothing: an empty page, as for audit events.
    let rows = sqlx::query_as!(
        UserRow,
        "SELECT id, email, role, disabled, created_at, updated_at FROM users \
         WHERE $1::uuid IS NULL \
            OR (id < $1 AND EXISTS (SELECT 1 FROM users AS cursor WHERE cursor.id = $1)) \
         ORDER BY id DESC \
         LIMIT $2",
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(&mut *transaction)
    .await
    .map_err(map_error)?;
    let users = rows.into_iter().map(decode).collect::<Result<_, _>>()?;
    let page = Page::from_fetched(users, limit);
    append_audit(&mut transaction, vec![users_listed(&page.data, &ctx)]).await?;
    transaction.commit().await.map_err(map_error)?;
    Ok(page)
}

pub(crate) async fn update(
    pool: PgPool,
    id: UserId,
    changes: UserChanges,
    ctx: AuditContext,
) -> Result<UpdateUser, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let update = update_user(&mut UserStatements(&mut transaction), id, changes, &ctx).await?;
    // An answer that wrote nothing rolls back at once rather than when the dropped
    // transaction's connection is next used: it holds the guard lock other admin changes wait
    // for.
    if update.commit {
        transaction.commit().await
    } else {
        transaction.rollback().await
    }
    .map_err(map_error)?;
    Ok(update.outcome)
}

/// An admin's change's statements on PostgreSQL.
struct UserStatements<'c>(&'c mut PgConnection);

impl UserUpdateBackend for UserStatements<'_> {
    /// Takes the guard lock first, then the user's row.
    async fn lock_user(&mut self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", LAST_ADMIN_GUARD_LOCK)
            .execute(&mut *self.0)
            .await
            .map_err(map_error)?;
        sqlx::query_as!(
            UserRow,
            "SELECT id, email, role, disabled, created_at, updated_at \
             FROM users WHERE id = $1 FOR UPDATE",
            id.as_uuid(),
        )
        .fetch_optional(&mut *self.0)
        .await
        .map_err(map_error)?
        .map(decode)
        .transpose()
    }

    async fn active_admins(&mut self) -> Result<i64, StoreError> {
        active_admins(self.0).await
    }

    async fn write_user(&mut self, user: &User) -> Result<(), StoreError> {
        sqlx::query!(
            "UPDATE users SET role = $2, disabled = $3, updated_at = $4 WHERE id = $1",
            user.id.as_uuid(),
            user.role.as_str(),
            user.disabled,
            user.updated_at.as_datetime(),
        )
        .execute(&mut *self.0)
        .await
        .map_err(map_error)?;
        Ok(())
    }

    async fn revoke_sessions(&mut self, id: UserId, now: Timestamp) -> Result<(), StoreError> {
        crate::sessions::revoke_all_of(self.0, id, now, SessionRevocation::UserDisabled).await
    }

    async fn append_audit(&mut self, events: Vec<NewAuditEvent>) -> Result<(), StoreError> {
        append_audit(self.0, events).await.map(drop)
    }
}

/// Admins who can still log in, as committed now: under the guard lock, every change that
/// could lower this count has either committed or not started.
async fn active_admins(connection: &mut PgConnection) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM users WHERE role = 'admin' AND NOT disabled"#
    )
    .fetch_one(connection)
    .await
    .map_err(map_error)
}
