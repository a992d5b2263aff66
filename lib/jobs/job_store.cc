#include "jobs/job_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "util/random_id.h"
#include "util/status_macros.h"

namespace framepair {

// The compiled statements of one connection, by SQL text (a fixed set: the store's constant SQL
// and the few filter combinations of ListJobs). Used under the connection's mutex.
struct StatementCache {
  struct Entry {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;  // borrowed by a live Stmt
  };
  ~StatementCache() {
    for (auto& [sql, entry] : entries) sqlite3_finalize(entry.stmt);
  }
  std::unordered_map<std::string, Entry> entries;  // element addresses are stable
};

namespace {

// PRAGMA application_id of a job store ("fpjs"): tells our file from another program's SQLite
// database, which Open must not migrate.
constexpr int kApplicationId = 0x66706a73;

// kMigrations[v] takes the schema from PRAGMA user_version v to v + 1, inside one transaction.
// Append only: a migration that has shipped is never edited, old files replay them in order.
//
// Version 1:
// - jobs.seq is the creation order (the rowid; a new job gets a larger one than any existing): it
//   orders ListJobs (newest first), UnfinishedJobs and ReadyTasks (oldest first) and is the
//   page cursor, so equal clock readings cannot reorder or repeat jobs across pages.
// - request_id is NULL when absent; UNIQUE lets any number of NULLs through.
// - States are stored by name, so the file reads well in the sqlite3 shell and reordering the
//   C++ enums cannot silently reinterpret old rows.
// - Dependencies live in task_deps (pos keeps the caller's order); the foreign keys make a dep
//   outside its own job impossible to store.
// - tasks_by_state serves ReadyTasks and CountTasks; the events primary key serves EventsAfter
//   and the MAX(seq) of AppendEvent.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  request_id TEXT UNIQUE,
  dataset TEXT NOT NULL,
  spec BLOB NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  error TEXT NOT NULL,
  result BLOB NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  updated_unix_ms INTEGER NOT NULL
);
CREATE INDEX jobs_by_state ON jobs (state, seq);
CREATE INDEX jobs_by_dataset ON jobs (dataset, seq);

CREATE TABLE tasks (
  job_id TEXT NOT NULL REFERENCES jobs (id),
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('PENDING', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED')),
  attempt INTEGER NOT NULL,
  retries INTEGER NOT NULL,
  not_before_unix_ms INTEGER NOT NULL,
  worker TEXT NOT NULL,
  started_unix_ms INTEGER NOT NULL,
  input BLOB NOT NULL,
  result BLOB NOT NULL,
  error TEXT NOT NULL,
  PRIMARY KEY (job_id, name)
) WITHOUT ROWID;
CREATE INDEX tasks_by_state ON tasks (state, kind);

CREATE TABLE task_deps (
  job_id TEXT NOT NULL,
  task TEXT NOT NULL,
  pos INTEGER NOT NULL,
  dep TEXT NOT NULL,
  PRIMARY KEY (job_id, task, pos),
  FOREIGN KEY (job_id, task) REFERENCES tasks (job_id, name),
  FOREIGN KEY (job_id, dep) REFERENCES tasks (job_id, name)
) WITHOUT ROWID;

CREATE TABLE events (
  job_id TEXT NOT NULL REFERENCES jobs (id),
  seq INTEGER NOT NULL,
  unix_ms INTEGER NOT NULL,
  payload BLOB NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
)sql",
    // Version 2: work per dispatched task independent of the job's size, and deletable jobs.
    // - tasks.waiting counts the task's deps that are not DONE (DONE is final, so it only
    //   decreases: CompleteAttempt decrements the dependents found through task_deps_by_dep).
    //   tasks_ready finds a job's ready tasks of a kind in name order without scanning the
    //   pending ones that still wait (100 000 packs waiting for their scene).
    // - jobs_by_updated serves the retention sweep (FinishedJobsBefore). Deleting the newest job
    //   lets SQLite reuse its seq; seq still orders by creation among the jobs that exist.
    R"sql(
ALTER TABLE tasks ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET waiting = (SELECT COUNT(*) FROM task_deps d JOIN tasks u
  ON u.job_id = d.job_id AND u.name = d.dep
  WHERE d.job_id = tasks.job_id AND d.task = tasks.name AND u.state <> 'DONE');
CREATE INDEX tasks_ready ON tasks (job_id, state, waiting, kind, name);
CREATE INDEX task_deps_by_dep ON task_deps (job_id, dep);
CREATE INDEX jobs_by_updated ON jobs (updated_unix_ms);
)sql",
    // - owner: the token identity that submitted the job ('' = no token auth, or a job from
    //   before identities); ListJobs of a non-admin client filters on it (jobs_by_owner).
    R"sql(
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_owner ON jobs (owner, seq);
)sql",
    // Version 4: ReadyTasks in one index walk whatever the number of jobs. tasks.job_seq copies
    // its job's seq (fixed at creation), so tasks_ready_by_age lists the ready tasks of a kind
    // oldest job first; before, ReadyTasks probed tasks_ready once per unfinished job, and with
    // thousands of queued jobs each scheduling round cost thousands of probes.
    R"sql(
ALTER TABLE tasks ADD COLUMN job_seq INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET job_seq = (SELECT seq FROM jobs WHERE jobs.id = tasks.job_id);
CREATE INDEX tasks_ready_by_age ON tasks (state, waiting, kind, job_seq, name);
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

// Column lists shared by the queries that build records (ReadJob / ReadTasks read them by
// position).
#define FP_JOB_COLUMNS                                                                     \
  "j.id, j.request_id, j.dataset, j.spec, j.state, j.error, j.result, j.created_unix_ms, " \
  "j.updated_unix_ms, j.owner"
#define FP_TASK_COLUMNS                                                                       \
  "t.job_id, t.name, t.kind, t.state, t.attempt, t.retries, t.not_before_unix_ms, t.worker, " \
  "t.started_unix_ms, t.input, t.result, t.error"
constexpr int kTaskDepColumn = 12;  // the dep name that follows FP_TASK_COLUMNS
#define FP_UNFINISHED_JOB "j.state IN ('QUEUED', 'RUNNING')"

std::optional<JobState> ParseJobState(std::string_view name) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled}) {
    if (JobStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<TaskState> ParseTaskState(std::string_view name) {
  for (TaskState s : {TaskState::kPending, TaskState::kRunning, TaskState::kDone,
                      TaskState::kFailed, TaskState::kCancelled}) {
    if (TaskStateName(s) == name) return s;
  }
  return std::nullopt;
}

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0), so StrCat
// needs the API's std::string_view converted.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string TaskLabel(std::string_view job_id, std::string_view name) {
  return absl::StrCat(Sv(job_id), "/", Sv(name));
}

absl::Status JobNotFound(std::string_view job_id) {
  return absl::NotFoundError(absl::StrCat("no job with id \"", Sv(job_id), "\""));
}

// What the operator can do about a failed SQLite call, by primary result code.
absl::StatusCode CodeAndHint(int rc, absl::string_view* hint) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      *hint = "another process holds the database lock; retry later";
      return absl::StatusCode::kUnavailable;
    case SQLITE_FULL:
      *hint = "free disk space";
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      *hint = "check that the file and its directory exist and are writable";
      return absl::StatusCode::kPermissionDenied;
    case SQLITE_NOTADB:
      *hint = "point the coordinator at a new file or restore the right one";
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_CORRUPT:
      *hint = "the file is damaged; restore it from a backup";
      return absl::StatusCode::kDataLoss;
    case SQLITE_IOERR:
      *hint = "the disk reported an I/O error";
      return absl::StatusCode::kUnavailable;
    default:
      *hint = "";
      return absl::StatusCode::kInternal;
  }
}

// The connection, the file name every error message needs and the connection's statement cache
// (nullptr: prepare every statement afresh). The caller holds the connection's mutex.
struct Conn {
  sqlite3* db;
  const std::string* path;
  StatementCache* cache = nullptr;
};

absl::Status SqliteError(const Conn& c, int rc, absl::string_view what) {
  absl::string_view hint;
  const absl::StatusCode code = CodeAndHint(rc, &hint);
  std::string message = absl::StrCat("job store ", *c.path, ": ", what, ": ", sqlite3_errmsg(c.db));
  if (!hint.empty()) absl::StrAppend(&message, "; ", hint);
  return absl::Status(code, message);
}

// A prepared statement. Bind errors are remembered and reported by the next Step, so call
// sites bind without checking each call.
class Stmt {
 public:
  // `what` (a string literal) heads the messages of the statement's errors.
  // With the connection's cache, a statement is compiled once per connection and reused: the
  // Stmt borrows it and resets it when destroyed (a statement left unreset would keep its read
  // snapshot open). A statement whose cached copy is in use (nested use) is prepared afresh.
  static absl::StatusOr<Stmt> Prepare(const Conn& c, const char* sql,
                                      const char* what = "statement failed") {
    StatementCache::Entry* entry = nullptr;
    if (c.cache != nullptr) {
      entry = &c.cache->entries[sql];
      if (entry->stmt != nullptr && !entry->in_use) {
        entry->in_use = true;
        return Stmt(c, entry->stmt, what, &entry->in_use);
      }
      if (entry->stmt != nullptr) entry = nullptr;  // in use: a private copy
    }
    sqlite3_stmt* raw = nullptr;
    const int rc =
        sqlite3_prepare_v3(c.db, sql, -1, entry ? SQLITE_PREPARE_PERSISTENT : 0, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      return SqliteError(c, rc, what);
    }
    if (entry == nullptr) return Stmt(c, raw, what, nullptr);
    entry->stmt = raw;
    entry->in_use = true;
    return Stmt(c, raw, what, &entry->in_use);
  }

  void Bind(int i, int64_t v) { Check(sqlite3_bind_int64(stmt_.get(), i, v)); }
  void BindNull(int i) { Check(sqlite3_bind_null(stmt_.get(), i)); }
  // A null data() pointer would bind SQL NULL; "" keeps empty strings empty.
  void BindText(int i, std::string_view v) {
    Check(sqlite3_bind_text64(stmt_.get(), i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT,
                              SQLITE_UTF8));
  }
  void BindBlob(int i, std::string_view v) {
    Check(
        sqlite3_bind_blob64(stmt_.get(), i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT));
  }

  // true: a row is available; false: the statement has finished.
  absl::StatusOr<bool> Step() {
    if (bind_rc_ != SQLITE_OK) return SqliteError(conn_, bind_rc_, "cannot bind a parameter");
    const int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(conn_, rc, what_);
  }
  // Runs to completion, ignoring any rows (e.g. of RETURNING).
  absl::Status Run() {
    for (;;) {
      FP_ASSIGN_OR_RETURN(const bool row, Step());
      if (!row) return absl::OkStatus();
    }
  }

  // Makes the statement ready to run again with new bindings.
  void Reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
    bind_rc_ = SQLITE_OK;
  }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_.get(), col);
    const int n = sqlite3_column_bytes(stmt_.get(), col);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_.get(), col);
    const int n = sqlite3_column_bytes(stmt_.get(), col);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

 private:
  // Finalizes a statement of its own; gives a cached one back, reset, to the cache.
  struct Finalizer {
    bool* in_use = nullptr;
    void operator()(sqlite3_stmt* s) const {
      if (in_use == nullptr) {
        sqlite3_finalize(s);
        return;
      }
      sqlite3_reset(s);
      sqlite3_clear_bindings(s);
      *in_use = false;
    }
  };
  Stmt(const Conn& c, sqlite3_stmt* s, const char* what, bool* in_use)
      : conn_(c), stmt_(s, Finalizer{in_use}), what_(what) {}
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  Conn conn_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  const char* what_;
  int bind_rc_ = SQLITE_OK;
};

// Runs constant SQL (no parameters), possibly several statements.
absl::Status Exec(const Conn& c, const char* sql, absl::string_view what) {
  const int rc = sqlite3_exec(c.db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? absl::OkStatus() : SqliteError(c, rc, what);
}

// Runs one constant statement, compiled once per connection (through its cache).
absl::Status Run(const Conn& c, const char* sql, const char* what) {
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, sql, what));
  return s.Run();
}

// A write transaction. BEGIN IMMEDIATE takes the write lock up front (waiting up to the busy
// timeout), so a read-then-write sequence can never fail halfway with SQLITE_BUSY and every
// check it makes still holds at COMMIT. Rolled back on destruction unless committed.
class WriteTxn {
 public:
  explicit WriteTxn(const Conn& c) : conn_(c) {}
  ~WriteTxn() {
    // After a failed COMMIT SQLite may already have rolled back; then there is nothing to undo.
    if (begun_ && !committed_ && sqlite3_get_autocommit(conn_.db) == 0) {
      sqlite3_exec(conn_.db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;

  absl::Status Begin() {
    FP_RETURN_IF_ERROR(Run(conn_, "BEGIN IMMEDIATE", "cannot start a transaction"));
    begun_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() {
    FP_RETURN_IF_ERROR(Run(conn_, "COMMIT", "cannot commit"));
    committed_ = true;
    return absl::OkStatus();
  }

 private:
  Conn conn_;
  bool begun_ = false;
  bool committed_ = false;
};

// Reads FP_JOB_COLUMNS starting at column 0.
absl::StatusOr<JobRecord> ReadJob(const Stmt& s) {
  JobRecord job;
  job.id = s.Text(0);
  job.request_id = s.IsNull(1) ? "" : s.Text(1);
  job.dataset = s.Text(2);
  job.spec = s.Blob(3);
  const std::string state = s.Text(4);
  const std::optional<JobState> parsed = ParseJobState(state);
  if (!parsed) {
    return absl::DataLossError(absl::StrCat("job ", job.id, " has unknown state \"", state, "\""));
  }
  job.state = *parsed;
  job.error = s.Text(5);
  job.result = s.Blob(6);
  job.created_unix_ms = s.Int(7);
  job.updated_unix_ms = s.Int(8);
  job.owner = s.Text(9);
  return job;
}

absl::StatusOr<std::vector<JobRecord>> ReadJobs(Stmt& s) {
  std::vector<JobRecord> jobs;
  for (;;) {
    FP_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return jobs;
    FP_ASSIGN_OR_RETURN(JobRecord job, ReadJob(s));
    jobs.push_back(std::move(job));
  }
}

// Reads rows of FP_TASK_COLUMNS followed by one dep name (NULL when none) at kTaskDepColumn,
// one row per (task, dep), grouped by task and in dep order.
absl::StatusOr<std::vector<TaskRecord>> ReadTasksWithDeps(Stmt& s) {
  std::vector<TaskRecord> tasks;
  for (;;) {
    FP_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return tasks;
    std::string job_id = s.Text(0);
    std::string name = s.Text(1);
    if (tasks.empty() || tasks.back().job_id != job_id || tasks.back().name != name) {
      TaskRecord t;
      t.job_id = std::move(job_id);
      t.name = std::move(name);
      t.kind = s.Text(2);
      const std::string state = s.Text(3);
      const std::optional<TaskState> parsed = ParseTaskState(state);
      if (!parsed) {
        return absl::DataLossError(absl::StrCat("task ", TaskLabel(t.job_id, t.name),
                                                " has unknown state \"", state, "\""));
      }
      t.state = *parsed;
      t.attempt = s.Int(4);
      t.retries = s.Int(5);
      t.not_before_unix_ms = s.Int(6);
      t.worker = s.Text(7);
      t.started_unix_ms = s.Int(8);
      t.input = s.Blob(9);
      t.result = s.Blob(10);
      t.error = s.Text(11);
      tasks.push_back(std::move(t));
    }
    if (!s.IsNull(kTaskDepColumn)) tasks.back().deps.push_back(s.Text(kTaskDepColumn));
  }
}

// What a job costs in a response: its variable-size fields plus a little framing.
int64_t ApproximateSize(const JobRecord& j) {
  return static_cast<int64_t>(j.id.size() + j.request_id.size() + j.dataset.size() + j.spec.size() +
                              j.error.size() + j.result.size()) +
         64;
}

absl::Status RequireJob(const Conn& c, std::string_view job_id) {
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, "SELECT 1 FROM jobs WHERE id = ?1"));
  s.BindText(1, job_id);
  FP_ASSIGN_OR_RETURN(const bool found, s.Step());
  return found ? absl::OkStatus() : JobNotFound(job_id);
}

// Checks what SQLite cannot: names present and unique, deps inside the job, no cycles.
absl::Status ValidateTasks(const std::vector<TaskRecord>& tasks) {
  std::map<std::string_view, const TaskRecord*> by_name;
  for (const TaskRecord& t : tasks) {
    if (t.name.empty()) return absl::InvalidArgumentError("a task has an empty name");
    if (t.kind.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("task \"", t.name, "\" has an empty kind"));
    }
    if (!by_name.emplace(t.name, &t).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("task name \"", t.name, "\" is used twice in one job"));
    }
  }
  for (const TaskRecord& t : tasks) {
    std::set<std::string_view> seen;
    for (const std::string& dep : t.deps) {
      if (!by_name.contains(dep)) {
        return absl::InvalidArgumentError(absl::StrCat("task \"", t.name, "\" depends on \"", dep,
                                                       "\", which is not a task of the job"));
      }
      if (!seen.insert(dep).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("task \"", t.name, "\" lists dependency \"", dep, "\" twice"));
      }
    }
  }
  // Kahn's algorithm: whatever cannot be ordered sits on a cycle and would never be ready.
  std::map<std::string_view, int> waiting;
  std::map<std::string_view, std::vector<std::string_view>> dependents;
  std::vector<std::string_view> ready;
  for (const TaskRecord& t : tasks) {
    waiting[t.name] = static_cast<int>(t.deps.size());
    for (const std::string& dep : t.deps) dependents[dep].push_back(t.name);
    if (t.deps.empty()) ready.push_back(t.name);
  }
  size_t ordered = 0;
  while (!ready.empty()) {
    const std::string_view name = ready.back();
    ready.pop_back();
    ++ordered;
    for (std::string_view d : dependents[name]) {
      if (--waiting[d] == 0) ready.push_back(d);
    }
  }
  if (ordered != tasks.size()) {
    for (const auto& [name, n] : waiting) {
      if (n > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("task \"", Sv(name), "\" is part of a dependency cycle"));
      }
    }
  }
  return absl::OkStatus();
}

// 48 random bits from the OS: unguessable, and collisions are checked at insert anyway.
std::string NewJobId() { return "j" + RandomHex(6); }

// For a failed open: SQLite only says "unable to open database file"; name the likely cause
// and what to do. OK when nothing specific is wrong with the path.
absl::Status DiagnosePath(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("directory ", dir, " does not exist; create it first"));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("directory ", dir,
                     " is not writable, and SQLite creates -wal and -shm files beside the "
                     "database; fix its permissions"));
  }
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError("it is a directory; give the path of a file");
    }
    if (::access(path.c_str(), R_OK | W_OK) != 0) {
      return absl::PermissionDeniedError(
          "the file is not readable and writable; fix its permissions");
    }
  }
  return absl::OkStatus();
}

absl::Status OpenError(const Conn& c, int rc, absl::string_view what) {
  const absl::Status diagnosis = DiagnosePath(*c.path);
  if (diagnosis.ok()) return SqliteError(c, rc, what);
  return absl::Status(diagnosis.code(),
                      absl::StrCat("job store ", *c.path, ": ", what, ": ", sqlite3_errmsg(c.db),
                                   "; ", diagnosis.message()));
}

absl::StatusOr<int64_t> PragmaInt(const Conn& c, const char* sql) {
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, sql, "cannot read"));
  FP_ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return absl::InternalError(absl::StrCat(sql, " returned no row"));
  return s.Int(0);
}

absl::Status NotAJobStore(const Conn& c) {
  return absl::FailedPreconditionError(
      absl::StrCat("job store ", *c.path,
                   ": the file is a SQLite database of another program; point the coordinator "
                   "at a new file"));
}

// Read-only: refuses a file that is not, and must not become, a job store before anything is
// written to it (even the switch to WAL changes the file header).
absl::Status CheckIsJobStore(const Conn& c) {
  // The first read of the file: a non-database fails here.
  FP_ASSIGN_OR_RETURN(const int64_t version, PragmaInt(c, "PRAGMA user_version"));
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job store ", *c.path, ": schema version ", version, " is newer than the ", kSchemaVersion,
        " this binary knows; run a newer coordinator or restore an older file"));
  }
  if (version > 0) {
    FP_ASSIGN_OR_RETURN(const int64_t app, PragmaInt(c, "PRAGMA application_id"));
    if (app != kApplicationId) return NotAJobStore(c);
  } else {
    FP_ASSIGN_OR_RETURN(const int64_t objects, PragmaInt(c, "SELECT COUNT(*) FROM sqlite_schema"));
    if (objects > 0) return NotAJobStore(c);
  }
  return absl::OkStatus();
}

// Applies the migrations the file lacks, each in its own transaction.
absl::Status Migrate(const Conn& c) {
  for (;;) {
    WriteTxn txn(c);
    FP_RETURN_IF_ERROR(txn.Begin());
    // Read under the write lock: another process may be opening the same new file.
    FP_ASSIGN_OR_RETURN(const int64_t version, PragmaInt(c, "PRAGMA user_version"));
    if (version >= kSchemaVersion) return absl::OkStatus();  // nothing written; rolled back
    if (version == 0) {
      FP_ASSIGN_OR_RETURN(const int64_t objects,
                          PragmaInt(c, "SELECT COUNT(*) FROM sqlite_schema"));
      if (objects > 0) return NotAJobStore(c);
      FP_RETURN_IF_ERROR(Exec(c, absl::StrCat("PRAGMA application_id = ", kApplicationId).c_str(),
                              "cannot set the application id"));
    }
    FP_RETURN_IF_ERROR(
        Exec(c, kMigrations[version], absl::StrCat("cannot migrate to schema ", version + 1)));
    // PRAGMA takes no parameters; the value is our own integer, not input.
    FP_RETURN_IF_ERROR(Exec(c, absl::StrCat("PRAGMA user_version = ", version + 1).c_str(),
                            "cannot record the schema version"));
    FP_RETURN_IF_ERROR(txn.Commit());
  }
}

// The job's state column as stored; NOT_FOUND naming the job if there is none.
absl::StatusOr<std::string> StoredJobState(const Conn& c, std::string_view job_id) {
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, "SELECT state FROM jobs WHERE id = ?1"));
  s.BindText(1, job_id);
  FP_ASSIGN_OR_RETURN(const bool found, s.Step());
  if (!found) return JobNotFound(job_id);
  return s.Text(0);
}

// Appends an event to an existing job's stream (the caller checked that the job exists) and
// returns its seq: the next after the job's last, assigned in the caller's transaction.
absl::StatusOr<int64_t> InsertEvent(const Conn& c, std::string_view job_id,
                                    std::string_view payload, int64_t unix_ms) {
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c,
                                            "INSERT INTO events (job_id, seq, unix_ms, payload)"
                                            " SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3"
                                            " FROM events WHERE job_id = ?1 RETURNING seq"));
  s.BindText(1, job_id);
  s.Bind(2, unix_ms);
  s.BindBlob(3, payload);
  FP_ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return absl::InternalError("INSERT ... RETURNING seq returned no row");
  const int64_t seq = s.Int(0);
  FP_RETURN_IF_ERROR(s.Run());  // a statement must finish before COMMIT
  return seq;
}

}  // namespace

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "QUEUED";
    case JobState::kRunning:
      return "RUNNING";
    case JobState::kSucceeded:
      return "SUCCEEDED";
    case JobState::kFailed:
      return "FAILED";
    case JobState::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

std::string_view TaskStateName(TaskState state) {
  switch (state) {
    case TaskState::kPending:
      return "PENDING";
    case TaskState::kRunning:
      return "RUNNING";
    case TaskState::kDone:
      return "DONE";
    case TaskState::kFailed:
      return "FAILED";
    case TaskState::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

void JobStore::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

JobStore::JobStore(std::string path, JobStoreOptions options, std::unique_ptr<sqlite3, DbCloser> db,
                   std::unique_ptr<sqlite3, DbCloser> read_db)
    : path_(std::move(path)),
      options_(std::move(options)),
      db_(std::move(db)),
      read_db_(std::move(read_db)),
      write_cache_(std::make_unique<StatementCache>()),
      read_cache_(std::make_unique<StatementCache>()) {}

// One caller's change, on the caller's stack while it waits in Write().
struct JobStore::PendingWrite {
  absl::FunctionRef<absl::Status(sqlite3*)> op;
  absl::Status status;
  bool done = false;
};

absl::Status JobStore::Write(absl::FunctionRef<absl::Status(sqlite3* db)> op) {
  PendingWrite mine{op};
  queue_mu_.Lock();
  queue_.push_back(&mine);
  ++stats_.queued;
  for (;;) {
    // Answered by a leader, or free to lead: nobody is committing and mine is still queued.
    const auto answered_or_idle = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return mine.done || !committing_;
    };
    queue_mu_.Await(absl::Condition(&answered_or_idle));
    if (mine.done) break;
    // Lead: everything queued, in order, up to max_batch (mine is among them unless the queue
    // is longer; then a later round takes it). Writes that arrive meanwhile wait for the next
    // round: they form its batch while this one's fsync runs.
    const size_t n = std::min(queue_.size(), static_cast<size_t>(std::max(1, options_.max_batch)));
    std::vector<PendingWrite*> batch(queue_.begin(),
                                     queue_.begin() + static_cast<std::ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    stats_.queued -= static_cast<int64_t>(n);
    stats_.writes += static_cast<int64_t>(n);
    committing_ = true;
    queue_mu_.Unlock();
    CommitBatch(batch);
    queue_mu_.Lock();
    ++stats_.commits;
    for (PendingWrite* w : batch) w->done = true;
    committing_ = false;
  }
  queue_mu_.Unlock();
  return mine.status;
}

void JobStore::CommitBatch(const std::vector<PendingWrite*>& batch) {
  absl::MutexLock lock(&mu_);
  const Conn c{db_.get(), &path_, write_cache_.get()};
  WriteTxn txn(c);
  if (absl::Status begun = txn.Begin(); !begun.ok()) {
    for (PendingWrite* w : batch) w->status = begun;
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    PendingWrite& w = *batch[i];
    absl::Status status = Run(c, "SAVEPOINT w", "cannot start a savepoint");
    if (status.ok()) {
      status = w.op(c.db);
      // A failed change leaves nothing behind, whatever it did before failing.
      absl::Status ended =
          status.ok() ? absl::OkStatus() : Run(c, "ROLLBACK TO w", "cannot end a savepoint");
      if (ended.ok()) ended = Run(c, "RELEASE w", "cannot end a savepoint");
      if (!ended.ok() && status.ok()) status = ended;
    }
    w.status = status;
    if (sqlite3_get_autocommit(c.db) != 0) {
      // SQLite rolled the whole transaction back (a full disk, an I/O error): the changes
      // applied before this one are gone too, and the rest must not run outside a transaction.
      const absl::Status lost =
          status.ok() ? SqliteError(c, sqlite3_errcode(c.db), "transaction rolled back") : status;
      for (size_t k = 0; k < batch.size(); ++k) {
        if (k > i || batch[k]->status.ok()) batch[k]->status = lost;
      }
      return;
    }
  }
  if (absl::Status committed = txn.Commit(); !committed.ok()) {
    for (PendingWrite* w : batch) {
      if (w->status.ok()) w->status = committed;
    }
  }
}

JobStoreStats JobStore::Stats() {
  absl::MutexLock lock(&queue_mu_);
  return stats_;
}

JobStore::~JobStore() = default;

int64_t JobStore::NowUnixMs() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path,
                                                         JobStoreOptions options) {
  if (path.empty() || path == ":memory:" || path.starts_with("file:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("job store path \"", path, "\" must name a file (it has to be durable)"));
  }
  // One connection; errors name the file and the likely cause. NOMUTEX: each connection is
  // used under its own JobStore mutex.
  using Db = std::unique_ptr<sqlite3, DbCloser>;
  auto open = [&](int flags, absl::string_view what) -> absl::StatusOr<Db> {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    Db db(raw);  // closed on every error path
    if (rc != SQLITE_OK) {
      if (raw == nullptr) return absl::ResourceExhaustedError("sqlite3_open_v2: out of memory");
      return OpenError(Conn{raw, &path}, rc, what);
    }
    sqlite3_busy_timeout(raw, options.busy_timeout_ms);
    return db;
  };
  FP_ASSIGN_OR_RETURN(Db db, open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "cannot open"));
  sqlite3* const raw = db.get();
  const Conn c{raw, &path};
  FP_RETURN_IF_ERROR(Exec(c, "PRAGMA foreign_keys = ON", "cannot enable foreign keys"));

  FP_RETURN_IF_ERROR(CheckIsJobStore(c));
  absl::StatusOr<Stmt> wal = Stmt::Prepare(c, "PRAGMA journal_mode = WAL");
  if (!wal.ok()) return OpenError(c, sqlite3_errcode(raw), "cannot switch to the WAL journal");
  absl::StatusOr<bool> row = wal->Step();
  if (!row.ok()) return OpenError(c, sqlite3_errcode(raw), "cannot switch to the WAL journal");
  const std::string mode = *row ? wal->Text(0) : "";
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("job store ", path, ": cannot use the WAL journal (journal_mode is \"", mode,
                     "\"); put the file on a local filesystem"));
  }
  FP_RETURN_IF_ERROR(wal->Run());
  // FULL, not the NORMAL usual with WAL: NORMAL may lose the last commits on power loss, and a
  // job or task result that was acknowledged must not disappear.
  FP_RETURN_IF_ERROR(Exec(c, "PRAGMA synchronous = FULL", "cannot set synchronous = FULL"));
  FP_RETURN_IF_ERROR(Migrate(c));
  // The reads' own connection: a WAL reader sees the last commit without waiting for the
  // writer's fsync in progress. query_only: it can never hold a write lock.
  FP_ASSIGN_OR_RETURN(Db read_db, open(SQLITE_OPEN_READWRITE, "cannot open for reading"));
  const Conn r{read_db.get(), &path};
  FP_RETURN_IF_ERROR(Exec(r, "PRAGMA query_only = ON", "cannot make the read connection"));
  return std::unique_ptr<JobStore>(
      new JobStore(path, std::move(options), std::move(db), std::move(read_db)));
}

absl::StatusOr<CreateJobResult> JobStore::CreateJob(JobRecord job, std::vector<TaskRecord> tasks) {
  if (tasks.size() > static_cast<size_t>(kMaxTasksPerJob)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a job of ", tasks.size(), " tasks; at most ", kMaxTasksPerJob));
  }
  FP_RETURN_IF_ERROR(ValidateTasks(tasks));
  CreateJobResult out;
  FP_RETURN_IF_ERROR(Write([&](sqlite3* db) -> absl::Status {
    const Conn c{db, &path_, write_cache_.get()};

    if (!job.request_id.empty()) {
      FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, "SELECT " FP_JOB_COLUMNS
                                                   " FROM jobs j WHERE j.request_id = ?1"));
      s.BindText(1, job.request_id);
      FP_ASSIGN_OR_RETURN(const bool found, s.Step());
      if (found) {
        FP_ASSIGN_OR_RETURN(JobRecord existing, ReadJob(s));
        if (existing.dataset != job.dataset || existing.spec != job.spec ||
            existing.owner != job.owner) {
          return absl::AlreadyExistsError(absl::StrCat(
              "request_id \"", job.request_id, "\" was already used for job ", existing.id,
              " with a different dataset, spec or owner; use a new request_id for a new job"));
        }
        out = CreateJobResult{std::move(existing), false};
        return absl::OkStatus();
      }
    }

    // A collision in 48 random bits is unlikely, but cheap to rule out under the write lock.
    FP_ASSIGN_OR_RETURN(Stmt exists, Stmt::Prepare(c, "SELECT 1 FROM jobs WHERE id = ?1"));
    for (int tries = 0;; ++tries) {
      job.id = NewJobId();
      exists.Reset();
      exists.BindText(1, job.id);
      FP_ASSIGN_OR_RETURN(const bool taken, exists.Step());
      if (!taken) break;
      if (tries == 10) return absl::InternalError("cannot find an unused job id");
    }
    job.state = JobState::kQueued;
    job.error.clear();
    job.result.clear();
    job.created_unix_ms = job.updated_unix_ms = NowUnixMs();

    FP_ASSIGN_OR_RETURN(Stmt insert_job,
                        Stmt::Prepare(c,
                                      "INSERT INTO jobs (id, request_id, dataset, spec, state, "
                                      "error, result, created_unix_ms, updated_unix_ms, owner) "
                                      "VALUES (?1, ?2, ?3, ?4, 'QUEUED', '', x'', ?5, ?5, ?6)"));
    insert_job.BindText(1, job.id);
    if (job.request_id.empty()) {
      insert_job.BindNull(2);
    } else {
      insert_job.BindText(2, job.request_id);
    }
    insert_job.BindText(3, job.dataset);
    insert_job.BindBlob(4, job.spec);
    insert_job.Bind(5, job.created_unix_ms);
    insert_job.BindText(6, job.owner);
    FP_RETURN_IF_ERROR(insert_job.Run());
    const int64_t job_seq = sqlite3_last_insert_rowid(c.db);  // jobs.seq is the rowid

    FP_ASSIGN_OR_RETURN(
        Stmt insert_task,
        Stmt::Prepare(
            c,
            "INSERT INTO tasks (job_id, name, kind, state, attempt, retries, "
            "not_before_unix_ms, worker, started_unix_ms, input, result, error, waiting, "
            "job_seq) VALUES (?1, ?2, ?3, 'PENDING', 0, 0, ?4, '', 0, ?5, x'', '', ?6, ?7)"));
    for (const TaskRecord& t : tasks) {
      insert_task.Reset();
      insert_task.BindText(1, job.id);
      insert_task.BindText(2, t.name);
      insert_task.BindText(3, t.kind);
      insert_task.Bind(4, t.not_before_unix_ms);
      insert_task.BindBlob(5, t.input);
      insert_task.Bind(6, static_cast<int64_t>(t.deps.size()));
      insert_task.Bind(7, job_seq);
      FP_RETURN_IF_ERROR(insert_task.Run());
    }
    // After every task exists, so the foreign keys of the deps are satisfied.
    FP_ASSIGN_OR_RETURN(
        Stmt insert_dep,
        Stmt::Prepare(c, "INSERT INTO task_deps (job_id, task, pos, dep) VALUES (?1, ?2, ?3, ?4)"));
    for (const TaskRecord& t : tasks) {
      for (size_t pos = 0; pos < t.deps.size(); ++pos) {
        insert_dep.Reset();
        insert_dep.BindText(1, job.id);
        insert_dep.BindText(2, t.name);
        insert_dep.Bind(3, static_cast<int64_t>(pos));
        insert_dep.BindText(4, t.deps[pos]);
        FP_RETURN_IF_ERROR(insert_dep.Run());
      }
    }
    out = CreateJobResult{std::move(job), true};
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<JobRecord> JobStore::GetJob(std::string_view job_id) {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_ASSIGN_OR_RETURN(Stmt s,
                      Stmt::Prepare(c, "SELECT " FP_JOB_COLUMNS " FROM jobs j WHERE j.id = ?1"));
  s.BindText(1, job_id);
  FP_ASSIGN_OR_RETURN(const bool found, s.Step());
  if (!found) return JobNotFound(job_id);
  return ReadJob(s);
}

absl::StatusOr<JobRecord> JobStore::GetJobByRequestId(std::string_view request_id) {
  if (request_id.empty()) return absl::NotFoundError("no request id");
  absl::MutexLock lock(&mu_);
  const Conn c{db_.get(), &path_, write_cache_.get()};
  FP_ASSIGN_OR_RETURN(
      Stmt s, Stmt::Prepare(c, "SELECT " FP_JOB_COLUMNS " FROM jobs j WHERE j.request_id = ?1"));
  s.BindText(1, request_id);
  FP_ASSIGN_OR_RETURN(const bool found, s.Step());
  if (!found) return absl::NotFoundError("no job with this request id");
  return ReadJob(s);
}

absl::StatusOr<JobPage> JobStore::ListJobs(const ListJobsQuery& query) {
  if (query.limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ListJobs limit must be positive, got ", query.limit));
  }
  const int limit = std::min(query.limit, kMaxListJobsLimit);
  // The token is the seq of the last job of the previous page.
  int64_t cursor = 0;
  if (!query.page_token.empty() && (!absl::SimpleAtoi(query.page_token, &cursor) || cursor <= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("malformed page_token \"", query.page_token,
                                                   "\"; pass back a next_page_token as is"));
  }
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  // Only constant fragments are concatenated (so the planner can pick jobs_by_dataset or
  // jobs_by_state); every value is bound. ?4 is always present, so ?1..?3 are always bindable.
  std::string sql = "SELECT " FP_JOB_COLUMNS ", j.seq FROM jobs j WHERE 1";
  if (!query.dataset.empty()) sql += " AND j.dataset = ?1";
  if (query.state) sql += " AND j.state = ?2";
  if (query.owner) sql += " AND j.owner = ?5";
  if (cursor > 0) sql += " AND j.seq < ?3";
  sql += " ORDER BY j.seq DESC LIMIT ?4";
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, sql.c_str()));
  s.BindText(1, query.dataset);
  s.BindText(2, query.state ? JobStateName(*query.state) : "");
  s.Bind(3, cursor);
  s.Bind(4, limit + 1);  // one more tells whether another page follows
  // ?5 is in the query only when filtering by owner.
  if (query.owner) s.BindText(5, *query.owner);
  JobPage page;
  int64_t last_seq = 0;
  int64_t bytes = 0;
  for (;;) {
    FP_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(page.jobs.size()) == limit) {
      page.next_page_token = absl::StrCat(last_seq);
      break;
    }
    FP_ASSIGN_OR_RETURN(JobRecord job, ReadJob(s));
    const int64_t size = ApproximateSize(job);
    if (query.max_bytes > 0 && !page.jobs.empty() && bytes + size > query.max_bytes) {
      page.next_page_token = absl::StrCat(last_seq);  // the rest follows on the next page
      break;
    }
    bytes += size;
    page.jobs.push_back(std::move(job));
    last_seq = s.Int(10);
  }
  return page;
}

absl::StatusOr<std::vector<JobRecord>> JobStore::UnfinishedJobs() {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_ASSIGN_OR_RETURN(
      Stmt s, Stmt::Prepare(c, "SELECT " FP_JOB_COLUMNS " FROM jobs j WHERE " FP_UNFINISHED_JOB
                               " ORDER BY j.seq"));
  return ReadJobs(s);
}

absl::Status JobStore::SetJobState(std::string_view job_id, JobState state, std::string_view error,
                                   std::string_view result) {
  return Write([&](sqlite3* db) -> absl::Status {
    const Conn c{db, &path_, write_cache_.get()};
    {
      FP_ASSIGN_OR_RETURN(const std::string current, StoredJobState(c, job_id));
      const std::optional<JobState> parsed = ParseJobState(current);
      if (!parsed || IsTerminal(*parsed)) {
        return absl::FailedPreconditionError(
            absl::StrCat("job ", Sv(job_id), " is already ", current, " and cannot become ",
                         Sv(JobStateName(state)), "; a finished job's state is final"));
      }
    }
    FP_ASSIGN_OR_RETURN(Stmt update,
                        Stmt::Prepare(c,
                                      "UPDATE jobs SET state = ?2, error = ?3, result = ?4, "
                                      "updated_unix_ms = ?5 WHERE id = ?1"));
    update.BindText(1, job_id);
    update.BindText(2, JobStateName(state));
    update.BindText(3, error);
    update.BindBlob(4, result);
    update.Bind(5, NowUnixMs());
    FP_RETURN_IF_ERROR(update.Run());
    if (IsTerminal(state)) {
      FP_ASSIGN_OR_RETURN(Stmt cancel, Stmt::Prepare(c,
                                                     "UPDATE tasks SET state = 'CANCELLED' "
                                                     "WHERE job_id = ?1 AND state IN ('PENDING', "
                                                     "'RUNNING')"));
      cancel.BindText(1, job_id);
      FP_RETURN_IF_ERROR(cancel.Run());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<TaskRecord>> JobStore::GetTasks(std::string_view job_id) {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_RETURN_IF_ERROR(RequireJob(c, job_id));
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, "SELECT " FP_TASK_COLUMNS
                                               ", d.dep FROM tasks t LEFT JOIN task_deps d "
                                               "ON d.job_id = t.job_id AND d.task = t.name "
                                               "WHERE t.job_id = ?1 ORDER BY t.name, d.pos"));
  s.BindText(1, job_id);
  return ReadTasksWithDeps(s);
}

absl::StatusOr<TaskRecord> JobStore::GetTask(std::string_view job_id, std::string_view name) {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_ASSIGN_OR_RETURN(
      Stmt s,
      Stmt::Prepare(c, "SELECT " FP_TASK_COLUMNS ", d.dep FROM tasks t LEFT JOIN task_deps d "
                       "ON d.job_id = t.job_id AND d.task = t.name "
                       "WHERE t.job_id = ?1 AND t.name = ?2 ORDER BY d.pos"));
  s.BindText(1, job_id);
  s.BindText(2, name);
  FP_ASSIGN_OR_RETURN(std::vector<TaskRecord> tasks, ReadTasksWithDeps(s));
  if (tasks.empty()) {
    FP_RETURN_IF_ERROR(RequireJob(c, job_id));
    return absl::NotFoundError(absl::StrCat("no task ", TaskLabel(job_id, name)));
  }
  return std::move(tasks.front());
}

absl::StatusOr<std::map<std::string, std::string>> JobStore::TaskResults(
    std::string_view job_id, const std::vector<std::string>& names) {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_RETURN_IF_ERROR(RequireJob(c, job_id));
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c,
                                            "SELECT result FROM tasks WHERE job_id = ?1 AND "
                                            "name = ?2 AND state = 'DONE'"));
  std::map<std::string, std::string> results;
  for (const std::string& name : names) {
    s.Reset();
    s.BindText(1, job_id);
    s.BindText(2, name);
    FP_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (row) results[name] = s.Blob(0);
  }
  return results;
}

absl::StatusOr<bool> JobStore::AllTasksDone(std::string_view job_id) {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_RETURN_IF_ERROR(RequireJob(c, job_id));
  // IN (...) rather than <> 'DONE': one index probe per state instead of a walk over the DONE
  // entries of tasks_ready.
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c,
                                            "SELECT EXISTS (SELECT 1 FROM tasks WHERE job_id = ?1"
                                            " AND state IN ('PENDING', 'RUNNING', 'FAILED',"
                                            " 'CANCELLED'))"));
  s.BindText(1, job_id);
  FP_ASSIGN_OR_RETURN(const bool row, s.Step());
  return row && s.Int(0) == 0;
}

absl::StatusOr<std::vector<TaskRecord>> JobStore::ReadyTasks(int64_t now_unix_ms, int limit,
                                                             std::string_view kind) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReadyTasks limit must be positive, got ", limit));
  }
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  // One walk of tasks_ready_by_age (PENDING, waiting = 0, of `kind`, oldest job first, then by
  // name): the cost is that of the tasks returned, not of the jobs queued or of the tasks they
  // have. CROSS JOIN keeps tasks the outer loop (the job's state is one probe per task). Without
  // a kind, the ready tasks of every kind are sorted.
  FP_ASSIGN_OR_RETURN(
      Stmt s,
      Stmt::Prepare(c, kind.empty() ? "SELECT " FP_TASK_COLUMNS ", d.dep FROM"
                                      " (SELECT t.* FROM tasks t INDEXED BY tasks_ready_by_age"
                                      " CROSS JOIN jobs j ON j.id = t.job_id"
                                      " WHERE t.state = 'PENDING' AND t.waiting = 0"
                                      " AND t.not_before_unix_ms <= ?2 AND " FP_UNFINISHED_JOB
                                      " ORDER BY t.job_seq, t.name LIMIT ?3) t"
                                      " LEFT JOIN task_deps d ON d.job_id = t.job_id AND d.task = "
                                      "t.name ORDER BY t.job_seq, t.name, d.pos"
                                    : "SELECT " FP_TASK_COLUMNS ", d.dep FROM"
                                      " (SELECT t.* FROM tasks t INDEXED BY tasks_ready_by_age"
                                      " CROSS JOIN jobs j ON j.id = t.job_id"
                                      " WHERE t.state = 'PENDING' AND t.waiting = 0 AND t.kind = ?4"
                                      " AND t.not_before_unix_ms <= ?2 AND " FP_UNFINISHED_JOB
                                      " ORDER BY t.job_seq, t.name LIMIT ?3) t"
                                      " LEFT JOIN task_deps d ON d.job_id = t.job_id AND d.task = "
                                      "t.name ORDER BY t.job_seq, t.name, d.pos"));
  s.Bind(2, now_unix_ms);
  s.Bind(3, limit);
  if (!kind.empty()) s.BindText(4, kind);
  FP_ASSIGN_OR_RETURN(std::vector<TaskRecord> ready, ReadTasksWithDeps(s));
  return ready;
}

absl::StatusOr<std::vector<TaskRecord>> JobStore::ReadyTasksOfKinds(
    int64_t now_unix_ms, const std::vector<std::pair<std::string, int>>& limits) {
  if (limits.empty()) return std::vector<TaskRecord>{};
  for (const auto& [kind, limit] : limits) {
    if (limit <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ReadyTasksOfKinds limit of \"", kind, "\" must be positive, got ", limit));
    }
  }
  // One walk of tasks_ready_by_age per kind (as in ReadyTasks), joined by UNION ALL: ?1 is now,
  // ?(2k+2) / ?(2k+3) the kind and limit of the k-th branch. The text depends only on the number
  // of kinds, so the connection compiles it once.
  std::string sql;
  for (size_t k = 0; k < limits.size(); ++k) {
    if (k > 0) sql += " UNION ALL ";
    absl::StrAppend(&sql,
                    "SELECT * FROM (SELECT t.job_id, t.name, t.kind, t.state, t.attempt, "
                    "t.retries, t.not_before_unix_ms, t.worker, t.started_unix_ms, x'', x'', "
                    "t.error, NULL"
                    " FROM tasks t INDEXED BY tasks_ready_by_age"
                    " CROSS JOIN jobs j ON j.id = t.job_id"
                    " WHERE t.state = 'PENDING' AND t.waiting = 0 AND t.kind = ?",
                    2 * k + 2,
                    " AND t.not_before_unix_ms <= ?1 AND " FP_UNFINISHED_JOB
                    " ORDER BY t.job_seq, t.name LIMIT ?",
                    2 * k + 3, ")");
  }
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, sql.c_str()));
  s.Bind(1, now_unix_ms);
  for (size_t k = 0; k < limits.size(); ++k) {
    s.BindText(static_cast<int>(2 * k + 2), limits[k].first);
    s.Bind(static_cast<int>(2 * k + 3), limits[k].second);
  }
  // The columns of FP_TASK_COLUMNS with empty input and result, and no dep.
  return ReadTasksWithDeps(s);
}

absl::StatusOr<int64_t> JobStore::StartAttempt(std::string_view job_id, std::string_view name,
                                               std::string_view worker, int64_t now_unix_ms,
                                               bool* job_started,
                                               TransitionEvent* job_started_event) {
  if (job_started != nullptr) *job_started = false;
  if (job_started_event != nullptr) job_started_event->seq = 0;
  int64_t event_seq = 0;
  int64_t attempt = 0;
  bool job_queued = false;
  FP_RETURN_IF_ERROR(Write([&](sqlite3* db) -> absl::Status {
    const Conn c{db, &path_, write_cache_.get()};
    {
      FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c,
                                                "SELECT t.state, t.attempt, j.state, t.waiting"
                                                " FROM tasks t JOIN jobs j ON j.id = t.job_id"
                                                " WHERE t.job_id = ?1 AND t.name = ?2"));
      s.BindText(1, job_id);
      s.BindText(2, name);
      FP_ASSIGN_OR_RETURN(const bool found, s.Step());
      if (!found) {
        return absl::NotFoundError(absl::StrCat("no task ", TaskLabel(job_id, name)));
      }
      const std::string state = s.Text(0);
      attempt = s.Int(1);
      const std::string job_state = s.Text(2);
      const int64_t waiting = s.Int(3);
      if (state != TaskStateName(TaskState::kPending)) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot start task ", TaskLabel(job_id, name), ": it is ", state,
                         " (attempt ", attempt, "), not PENDING"));
      }
      const std::optional<JobState> parsed = ParseJobState(job_state);
      if (!parsed || IsTerminal(*parsed)) {
        return absl::FailedPreconditionError(absl::StrCat("cannot start task ",
                                                          TaskLabel(job_id, name), ": job ",
                                                          Sv(job_id), " is ", job_state));
      }
      job_queued = *parsed == JobState::kQueued;
      if (waiting > 0) {
        return absl::FailedPreconditionError(absl::StrCat("cannot start task ",
                                                          TaskLabel(job_id, name), ": ", waiting,
                                                          " of its dependencies are not DONE"));
      }
    }
    FP_ASSIGN_OR_RETURN(Stmt update, Stmt::Prepare(c,
                                                   "UPDATE tasks SET state = 'RUNNING', attempt = "
                                                   "?3, worker = ?4, started_unix_ms = ?5 "
                                                   "WHERE job_id = ?1 AND name = ?2"));
    update.BindText(1, job_id);
    update.BindText(2, name);
    update.Bind(3, attempt + 1);
    update.BindText(4, worker);
    update.Bind(5, now_unix_ms);
    FP_RETURN_IF_ERROR(update.Run());
    if (job_started == nullptr || !job_queued) return absl::OkStatus();
    FP_ASSIGN_OR_RETURN(Stmt start, Stmt::Prepare(c,
                                                  "UPDATE jobs SET state = 'RUNNING', "
                                                  "updated_unix_ms = ?2 WHERE id = ?1"));
    start.BindText(1, job_id);
    start.Bind(2, NowUnixMs());
    FP_RETURN_IF_ERROR(start.Run());
    if (job_started_event != nullptr) {
      FP_ASSIGN_OR_RETURN(event_seq, InsertEvent(c, job_id, job_started_event->payload,
                                                 job_started_event->unix_ms));
    }
    return absl::OkStatus();
  }));
  // Only once committed: a write that failed (or whose COMMIT failed) left nothing.
  if (job_started != nullptr) *job_started = job_queued;
  if (job_started_event != nullptr) job_started_event->seq = event_seq;
  return attempt + 1;
}

namespace {

// The fenced transitions: `update_sql` (?1 = job_id, ?2 = name, ?3... bound by `bind`) runs
// only while the task is RUNNING `attempt`. The caller holds the mutex.
// `after_sql` (optional, ?1 = job_id, ?2 = name) runs in the same transaction.
template <typename Bind>
absl::Status FencedUpdate(const Conn& c, std::string_view job_id, std::string_view name,
                          int64_t attempt, const char* update_sql, Bind bind,
                          const char* after_sql = nullptr) {
  {
    FP_ASSIGN_OR_RETURN(
        Stmt s,
        Stmt::Prepare(c, "SELECT state, attempt FROM tasks WHERE job_id = ?1 AND name = ?2"));
    s.BindText(1, job_id);
    s.BindText(2, name);
    FP_ASSIGN_OR_RETURN(const bool found, s.Step());
    if (!found) return absl::NotFoundError(absl::StrCat("no task ", TaskLabel(job_id, name)));
    const std::string state = s.Text(0);
    const int64_t current = s.Int(1);
    if (attempt != current) {
      return absl::FailedPreconditionError(
          absl::StrCat(attempt < current ? "stale" : "unknown", " attempt ", attempt, " of ",
                       TaskLabel(job_id, name), ", current is ", current));
    }
    if (state != TaskStateName(TaskState::kRunning)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "attempt ", attempt, " of ", TaskLabel(job_id, name), " is ", state, ", not RUNNING"));
    }
  }
  FP_ASSIGN_OR_RETURN(Stmt update, Stmt::Prepare(c, update_sql));
  update.BindText(1, job_id);
  update.BindText(2, name);
  bind(update);
  FP_RETURN_IF_ERROR(update.Run());
  if (after_sql != nullptr) {
    FP_ASSIGN_OR_RETURN(Stmt after, Stmt::Prepare(c, after_sql));
    after.BindText(1, job_id);
    after.BindText(2, name);
    FP_RETURN_IF_ERROR(after.Run());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status JobStore::CompleteAttempt(std::string_view job_id, std::string_view name,
                                       int64_t attempt, std::string_view result,
                                       TransitionEvent* done_event) {
  if (done_event != nullptr) done_event->seq = 0;
  int64_t event_seq = 0;
  FP_RETURN_IF_ERROR(Write([&](sqlite3* db) -> absl::Status {
    const Conn c{db, &path_, write_cache_.get()};
    FP_RETURN_IF_ERROR(FencedUpdate(
        c, job_id, name, attempt,
        "UPDATE tasks SET state = 'DONE', result = ?3 WHERE job_id = ?1 AND name = ?2",
        [&](Stmt& s) { s.BindBlob(3, result); },
        // Its dependents wait for one dep less (found through task_deps_by_dep).
        "UPDATE tasks SET waiting = waiting - 1 WHERE job_id = ?1 AND name IN"
        " (SELECT task FROM task_deps WHERE job_id = ?1 AND dep = ?2)"));
    if (done_event == nullptr) return absl::OkStatus();
    // The task exists, so its job does (the foreign key).
    FP_ASSIGN_OR_RETURN(event_seq,
                        InsertEvent(c, job_id, done_event->payload, done_event->unix_ms));
    return absl::OkStatus();
  }));
  if (done_event != nullptr) done_event->seq = event_seq;
  return absl::OkStatus();
}

absl::Status JobStore::RetryAttempt(std::string_view job_id, std::string_view name, int64_t attempt,
                                    int64_t not_before_unix_ms, std::string_view error,
                                    bool count_retry) {
  return Write([&](sqlite3* db) {
    return FencedUpdate(Conn{db, &path_, write_cache_.get()}, job_id, name, attempt,
                        "UPDATE tasks SET state = 'PENDING', retries = retries + ?5, "
                        "not_before_unix_ms = ?3, error = ?4 WHERE job_id = ?1 AND name = ?2",
                        [&](Stmt& s) {
                          s.Bind(3, not_before_unix_ms);
                          s.BindText(4, error);
                          s.Bind(5, count_retry ? 1 : 0);
                        });
  });
}

absl::Status JobStore::FailAttempt(std::string_view job_id, std::string_view name, int64_t attempt,
                                   std::string_view error) {
  return Write([&](sqlite3* db) {
    return FencedUpdate(
        Conn{db, &path_, write_cache_.get()}, job_id, name, attempt,
        "UPDATE tasks SET state = 'FAILED', error = ?3 WHERE job_id = ?1 AND name = ?2",
        [&](Stmt& s) { s.BindText(3, error); });
  });
}

absl::Status JobStore::SetAttemptWorker(std::string_view job_id, std::string_view name,
                                        int64_t attempt, std::string_view worker) {
  return Write([&](sqlite3* db) {
    return FencedUpdate(Conn{db, &path_, write_cache_.get()}, job_id, name, attempt,
                        "UPDATE tasks SET worker = ?3 WHERE job_id = ?1 AND name = ?2",
                        [&](Stmt& s) { s.BindText(3, worker); });
  });
}

absl::StatusOr<int> JobStore::CancelTasks(std::string_view job_id) {
  int cancelled = 0;
  FP_RETURN_IF_ERROR(Write([&](sqlite3* db) -> absl::Status {
    const Conn c{db, &path_, write_cache_.get()};
    FP_RETURN_IF_ERROR(RequireJob(c, job_id));
    FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c,
                                              "UPDATE tasks SET state = 'CANCELLED' WHERE job_id "
                                              "= ?1 AND state IN ('PENDING', 'RUNNING')"));
    s.BindText(1, job_id);
    FP_RETURN_IF_ERROR(s.Run());
    cancelled = sqlite3_changes(c.db);
    return absl::OkStatus();
  }));
  return cancelled;
}

absl::StatusOr<int> JobStore::RequeueRunningTasks() {
  int requeued = 0;
  FP_RETURN_IF_ERROR(Write([&](sqlite3* db) -> absl::Status {
    const Conn c{db, &path_, write_cache_.get()};
    FP_ASSIGN_OR_RETURN(Stmt s,
                        Stmt::Prepare(c,
                                      "UPDATE tasks SET state = 'PENDING'"
                                      " WHERE state = 'RUNNING' AND job_id IN"
                                      " (SELECT j.id FROM jobs j WHERE " FP_UNFINISHED_JOB ")"));
    FP_RETURN_IF_ERROR(s.Run());
    requeued = sqlite3_changes(c.db);
    return absl::OkStatus();
  }));
  return requeued;
}

absl::StatusOr<int64_t> JobStore::AppendEvent(std::string_view job_id, std::string_view payload,
                                              int64_t unix_ms) {
  int64_t seq = 0;
  FP_RETURN_IF_ERROR(Write([&](sqlite3* db) -> absl::Status {
    const Conn c{db, &path_, write_cache_.get()};
    FP_RETURN_IF_ERROR(RequireJob(c, job_id));
    FP_ASSIGN_OR_RETURN(seq, InsertEvent(c, job_id, payload, unix_ms));
    return absl::OkStatus();
  }));
  return seq;
}

absl::StatusOr<std::vector<EventRecord>> JobStore::EventsAfter(std::string_view job_id,
                                                               int64_t after_seq, int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("EventsAfter limit must be positive, got ", limit));
  }
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_RETURN_IF_ERROR(RequireJob(c, job_id));
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c,
                                            "SELECT seq, unix_ms, payload FROM events WHERE "
                                            "job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"));
  s.BindText(1, job_id);
  s.Bind(2, after_seq);
  s.Bind(3, limit);
  std::vector<EventRecord> events;
  for (;;) {
    FP_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return events;
    events.push_back(EventRecord{s.Int(0), s.Int(1), s.Blob(2)});
  }
}

absl::StatusOr<int64_t> JobStore::LastEventSeq(std::string_view job_id) {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c,
                                            "SELECT (SELECT 1 FROM jobs WHERE id = ?1),"
                                            " (SELECT COALESCE(MAX(seq), 0) FROM events"
                                            " WHERE job_id = ?1)"));
  s.BindText(1, job_id);
  FP_ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row || s.IsNull(0)) return JobNotFound(job_id);
  return s.Int(1);
}

absl::Status JobStore::DeleteJob(std::string_view job_id) {
  return Write([&](sqlite3* db) -> absl::Status {
    const Conn c{db, &path_, write_cache_.get()};
    {
      FP_ASSIGN_OR_RETURN(const std::string state, StoredJobState(c, job_id));
      const std::optional<JobState> parsed = ParseJobState(state);
      if (parsed && !IsTerminal(*parsed)) {
        return absl::FailedPreconditionError(
            absl::StrCat("job ", Sv(job_id), " is ", state, "; cancel it first"));
      }
    }
    for (const char* sql :
         {"DELETE FROM events WHERE job_id = ?1", "DELETE FROM task_deps WHERE job_id = ?1",
          "DELETE FROM tasks WHERE job_id = ?1", "DELETE FROM jobs WHERE id = ?1"}) {
      FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, sql, "cannot delete the job"));
      s.BindText(1, job_id);
      FP_RETURN_IF_ERROR(s.Run());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> JobStore::FinishedJobsBefore(int64_t before_unix_ms,
                                                                      int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("FinishedJobsBefore limit must be positive, got ", limit));
  }
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c,
                                            "SELECT id FROM jobs WHERE updated_unix_ms < ?1 AND"
                                            " state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')"
                                            " ORDER BY updated_unix_ms LIMIT ?2"));
  s.Bind(1, before_unix_ms);
  s.Bind(2, limit);
  std::vector<std::string> ids;
  for (;;) {
    FP_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return ids;
    ids.push_back(s.Text(0));
  }
}

absl::StatusOr<std::vector<std::string>> JobStore::AllSpecs() {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_ASSIGN_OR_RETURN(Stmt s, Stmt::Prepare(c, "SELECT spec FROM jobs"));
  std::vector<std::string> specs;
  for (;;) {
    FP_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return specs;
    specs.push_back(s.Blob(0));
  }
}

absl::StatusOr<std::map<std::string, int64_t>> JobStore::CountTasks(TaskState state) {
  absl::MutexLock lock(&read_mu_);
  const Conn c{read_db_.get(), &path_, read_cache_.get()};
  FP_ASSIGN_OR_RETURN(
      Stmt s, Stmt::Prepare(c,
                            "SELECT t.kind, COUNT(*) FROM tasks t"
                            " JOIN jobs j ON j.id = t.job_id"
                            " WHERE t.state = ?1 AND " FP_UNFINISHED_JOB " GROUP BY t.kind"));
  s.BindText(1, TaskStateName(state));
  std::map<std::string, int64_t> counts;
  for (;;) {
    FP_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return counts;
    counts[s.Text(0)] = s.Int(1);
  }
}

#undef FP_JOB_COLUMNS
#undef FP_TASK_COLUMNS
#undef FP_UNFINISHED_JOB

}  // namespace framepair
