//! Users in SQLite: registration, the admin command, lookups and an admin's changes under the
//! last-admin guard. Every write runs under `BEGIN IMMEDIATE`, which holds the database's one
//! write lock from its first statement: changes are serial, so counting the admins and then
//! removing one cannot race.

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
use sqlx::{SqliteConnection, SqlitePool};

use crate::audit::append_audit;
use crate::error::{internal, map_error};
use crate::transaction::begin_immediate;

/// The unique constraint that makes an email taken.
const EMAIL_KEY: &str = "users_email_key";

fn decode(row: UserRow) -> Result<User, StoreError> {
    row.into_user().map_err(internal)
}

/// Inserts a user that is new and enabled.
async fn insert(
    connection: &mut SqliteConnection,
    email: Email,
    password_hash: &PasswordHash,
    role: Role,
) -> Result<User, StoreError> {
    let now = Timestamp::now();
    let user = User {
        id: UserId::new(),
        email,
        role,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let id = user.id.as_uuid();
    let created_at = now.as_datetime();
    let (email, password_hash, role) = (user.email.as_str(), password_hash.as_str(), role.as_str());
    sqlx::query!(
        "INSERT INTO users (id, email, password_hash, role, disabled, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)",
        id,
        email,
        password_hash,
        role,
        created_at,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(user)
}

pub(crate) async fn create(
    pool: &SqlitePool,
    new: NewUser,
    ctx: &AuditContext,
) -> Result<CreateUser, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let user = match insert(&mut transaction, new.email, &new.password_hash, new.role).await {
        Ok(user) => user,
        Err(StoreError::Constraint { constraint }) if constraint == EMAIL_KEY => {
            transaction.rollback().await.map_err(map_error)?;
            return Ok(CreateUser::EmailTaken);
        }
        Err(error) => return Err(error),
    };
    append_audit(&mut transaction, vec![registered(&user, ctx)]).await?;
    transaction.commit().await.map_err(map_error)?;
    Ok(CreateUser::Created(user))
}

pub(crate) async fn ensure_admin(
    pool: &SqlitePool,
    email: Email,
    password_hash: PasswordHash,
    ctx: &AuditContext,
) -> Result<EnsureAdmin, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let existing = find_by_email(&mut transaction, &email).await?;
    let outcome = match existing {
        None => {
            let user = insert(&mut transaction, email, &password_hash, Role::Admin).await?;
            append_audit(&mut transaction, vec![registered(&user, ctx)]).await?;
            EnsureAdmin::Created(user)
        }
        Some(before) => {
            let now = Timestamp::now();
            let after = User {
                role: Role::Admin,
                disabled: false,
                updated_at: now,
                ..before.clone()
            };
            let id = after.id.as_uuid();
            let role = after.role.as_str();
            let hash = password_hash.as_str();
            let updated_at = now.as_datetime();
            sqlx::query!(
                "UPDATE users SET role = ?2, disabled = ?3, password_hash = ?4, updated_at = ?5 \
                 WHERE id = ?1",
                id,
                role,
                after.disabled,
                hash,
                updated_at,
            )
            .execute(&mut *transaction)
            .await
            .map_err(map_error)?;
            let mut events = user_changed(&before, &after, ctx);
            crate::sessions::revoke_all_of(
                &mut transaction,
                after.id,
                now,
                SessionRevocation::PasswordReset,
            )
            .await?;
            events.push(password_reset(&after, ctx));
            append_audit(&mut transaction, events).await?;
            EnsureAdmin::Promoted(after)
        }
    };
    transaction.commit().await.map_err(map_error)?;
    Ok(outcome)
}

async fn find_by_email(
    connection: &mut SqliteConnection,
    email: &Email,
) -> Result<Option<User>, StoreError> {
    let email = email.as_str();
    sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id!: uuid::Uuid", email AS "email!", role AS "role!",
                  disabled AS "disabled!: bool",
                  created_at AS "created_at!: chrono::DateTime<chrono::Utc>",
                  updated_at AS "updated_at!: chrono::DateTime<chrono::Utc>"
           FROM users WHERE email = ?1"#,
        email,
    )
    .fetch_optional(connection)
    .await
    .map_err(map_error)?
    .map(decode)
    .transpose()
}

pub(crate) async fn find_login(
    pool: &SqlitePool,
    email: &Email,
) -> Result<Option<LoginRecord>, StoreError> {
    let email = email.as_str();
    let row = sqlx::query!(
        r#"SELECT id AS "id!: uuid::Uuid", email AS "email!", role AS "role!",
                  disabled AS "disabled!: bool",
                  created_at AS "created_at!: chrono::DateTime<chrono::Utc>",
                  updated_at AS "updated_at!: chrono::DateTime<chrono::Utc>",
                  password_hash AS "password_hash!"
           FROM users WHERE email = ?1"#,
        email,
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

async fn find_by_id(
    connection: &mut SqliteConnection,
    id: UserId,
) -> Result<Option<User>, StoreError> {
    let id = id.as_uuid();
    sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id!: uuid::Uuid", email AS "email!", role AS "role!",
                  disabled AS "disabled!: bool",
                  created_at AS "created_at!: chrono::DateTime<chrono::Utc>",
                  updated_at AS "updated_at!: chrono::DateTime<chrono::Utc>"
           FROM users WHERE id = ?1"#,
        id,
    )
    .fetch_optional(connection)
    .await
    .map_err(map_error)?
    .map(decode)
    .transpose()
}

pub(crate) async fn find(pool: &SqlitePool, id: UserId) -> Result<Option<User>, StoreError> {
    let mut connection = pool.acquire().await.map_err(map_error)?;
    find_by_id(&mut connection, id).await
}

pub(crate) async fn list(
    pool: &SqlitePool,
    limit: PageLimit,
    starting_after: Option<UserId>,
    ctx: &AuditContext,
) -> Result<Page<User>, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let starting_after = starting_after.map(|id| id.as_uuid());
    let rows_to_fetch = limit.rows_to_fetch();
    // Ids are 16-byte BLOBs, which compare bytewise: in UUID v7 order, so by creation time.
    // A cursor naming no user matches nothing: an empty page, as for audit events.
    let rows = sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id!: uuid::Uuid", email AS "email!", role AS "role!",
                  disabled AS "disabled!: bool",
                  created_at AS "created_at!: chrono::DateTime<chrono::Utc>",
                  updated_at AS "updated_at!: chrono::DateTime<chrono::Utc>"
           FROM users
           WHERE ?1 IS NULL
              OR (id < ?1 AND EXISTS (SELECT 1 FROM users AS cursor WHERE cursor.id = ?1))
           ORDER BY id DESC
           LIMIT ?2"#,
        starting_after,
        rows_to_fetch,
    )
    .fetch_all(&mut *transaction)
    .await
    .map_err(map_error)?;
    let users = rows.into_iter().map(decode).collect::<Result<_, _>>()?;
    let page = Page::from_fetched(users, limit);
    append_audit(&mut transaction, vec![users_listed(&page.data, ctx)]).await?;
    transaction.commit().await.map_err(map_error)?;
    Ok(page)
}

pub(crate) async fn update(
    pool: &SqlitePool,
    id: UserId,
    changes: UserChanges,
    ctx: &AuditContext,
) -> Result<UpdateUser, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let update = update_user(&mut UserStatements(&mut transaction), id, changes, ctx).await?;
    // An answer that wrote nothing rolls back at once: the transaction holds the write lock.
    if update.commit {
        transaction.commit().await
    } else {
        transaction.rollback().await
    }
    .map_err(map_error)?;
    Ok(update.outcome)
}

/// An admin's change's statements on SQLite, under the write lock `BEGIN IMMEDIATE` took.
struct UserStatements<'c>(&'c mut SqliteConnection);

impl UserUpdateBackend for UserStatements<'_> {
    async fn lock_user(&mut self, id: UserId) -> Result<Option<User>, StoreError> {
        find_by_id(self.0, id).await
    }

    async fn active_admins(&mut self) -> Result<i64, StoreError> {
        active_admins(self.0).await
    }

    async fn write_user(&mut self, user: &User) -> Result<(), StoreError> {
        let user_id = user.id.as_uuid();
        let role = user.role.as_str();
        let updated_at = user.updated_at.as_datetime();
        sqlx::query!(
            "UPDATE users SET role = ?2, disabled = ?3, updated_at = ?4 WHERE id = ?1",
            user_id,
            role,
            user.disabled,
            updated_at,
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

/// Admins who can still log in.
async fn active_admins(connection: &mut SqliteConnection) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!: i64" FROM users WHERE role = 'admin' AND disabled = 0"#
    )
    .fetch_one(connection)
    .await
    .map_err(map_error)
}
