//! JSON API for the school structure, students, and spreadsheet import/export.

use crate::http::Query;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;

use super::import;
use super::{Assignment, NewClass, NewSubject, SchoolError, Student};
use crate::auth::Action;
use crate::auth::extract::ApiUser;
use crate::http::{ApiError, JsonBody, Shared, json_body};

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/school", get(get_school).put(put_school))
        .route("/classes", get(list_classes).post(create_class))
        .route("/subjects", get(list_subjects).post(save_subject))
        .route("/departments", get(list_departments).post(save_department))
        .route(
            "/assignments",
            get(list_assignments)
                .post(create_assignment)
                .delete(delete_assignment),
        )
        .route("/students", get(list_students).post(create_student))
        .route("/students/{student}", patch(edit_student))
        .route("/students/{student}/profile", put(put_profile))
        .route("/students/{student}/move", post(move_student))
        .route("/students/{student}/transfer-out", post(transfer_out))
        .route("/students/{student}/withdraw", post(withdraw))
        .route("/students/{student}/reenrol", post(re_enrol))
        .route("/register", get(get_register))
        .route("/register/{number}/strike", post(strike_line))
        .route("/register/next", put(set_register_next))
        .route("/export/register.xlsx", get(export_register_xlsx))
        .route("/export/register.pdf", get(export_register_pdf))
        .route("/import/students", post(import_students))
        .route("/import/register", post(import_register))
        .route("/import/staff", post(import_staff))
        .route("/export/students.xlsx", get(export_students))
        .route("/export/staff.xlsx", get(export_staff))
}

async fn write<R: Send + 'static>(
    s: &Shared,
    u: &ApiUser,
    f: impl FnOnce(&mut crate::store::Tx<'_>) -> Result<R, SchoolError> + Send + 'static,
) -> Result<R, ApiError> {
    crate::auth::extract::write_as(s, u, f).await
}

async fn get_school(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ViewSchool)?;
    let rx = s.store.read()?;
    Ok(Json(
        json!({ "school": super::school_info(&rx)?, "years": super::list(&rx, &super::YEARS)? }),
    ))
}

/// Changes the school's own details (today the date line's địa danh): the fields sent only.
async fn put_school(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<super::SchoolPatch>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let p = json_body(b)?;
    let x = write(&s, &u, move |tx| super::update_school(tx, p)).await?;
    Ok(Json(json!({ "school": x })))
}

async fn list_classes(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ViewSchool)?;
    Ok(Json(
        json!({ "classes": super::list(&s.store.read()?, &super::CLASSES)? }),
    ))
}

async fn create_class(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<NewClass>,
) -> Result<Response, ApiError> {
    u.require(Action::ManageSchool)?;
    let n = json_body(b)?;
    let year = current_year(&s)?;
    let c = write(&s, &u, move |tx| super::create_class(tx, &year, n)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "class": c }))).into_response())
}

async fn list_subjects(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ViewSchool)?;
    Ok(Json(
        json!({ "subjects": super::list(&s.store.read()?, &super::SUBJECTS)? }),
    ))
}

async fn save_subject(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<NewSubject>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let n = json_body(b)?;
    let x = write(&s, &u, move |tx| super::upsert_subject(tx, n)).await?;
    Ok(Json(json!({ "subject": x })))
}

async fn list_departments(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ViewSchool)?;
    Ok(Json(
        json!({ "departments": super::list(&s.store.read()?, &super::DEPARTMENTS)? }),
    ))
}

#[derive(Deserialize)]
struct DeptBody {
    name: String,
}

async fn save_department(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<DeptBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let n = json_body(b)?;
    let d = write(&s, &u, move |tx| super::upsert_department(tx, &n.name)).await?;
    Ok(Json(json!({ "department": d })))
}

async fn list_assignments(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ViewSchool)?;
    Ok(Json(
        json!({ "assignments": super::list(&s.store.read()?, &super::ASSIGNMENTS)? }),
    ))
}

async fn create_assignment(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<Assignment>,
) -> Result<Response, ApiError> {
    u.require(Action::ManageSchool)?;
    let a = json_body(b)?;
    let a = write(&s, &u, move |tx| super::assign(tx, a)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "assignment": a }))).into_response())
}

async fn delete_assignment(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<Assignment>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let a = json_body(b)?;
    let removed = write(&s, &u, move |tx| super::unassign(tx, &a)).await?;
    Ok(Json(json!({ "removed": removed })))
}

#[derive(Deserialize)]
struct StudentQuery {
    class: Option<String>,
    /// At most this many students, after skipping `offset` (a page of the roll).
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn list_students(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<StudentQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ViewSchool)?;
    let rx = s.store.read()?;
    let v = match &q.class {
        // A class that names nothing is refused, not an empty list (review r21 #5).
        Some(c) if rx.get(&super::CLASSES, c)?.is_none() => {
            return Err(crate::http::bad_filter(format!(
                "Không có lớp “{}” trong trường: chọn một lớp trong danh sách.",
                c.chars().take(40).collect::<String>()
            )));
        }
        Some(c) => super::students_of_class(&rx, c)?,
        None => {
            u.require(Action::ImportExport)?;
            // The current year's students (last year's graduates are in their class's list).
            let current = super::school_info(&rx)?
                .map(|i| i.current_year)
                .unwrap_or_default();
            let mut v: Vec<super::Student> = super::list(&rx, &super::STUDENTS)?;
            v.retain(|st| {
                current.is_empty()
                    || rx
                        .get(&super::CLASSES, &st.class_id)
                        .ok()
                        .flatten()
                        .is_none_or(|c| c.year == current)
            });
            v
        }
    };
    // Personal ID numbers only for the class's homeroom teacher, BGH and the office.
    let v: Vec<serde_json::Value> = v
        .into_iter()
        .skip(q.offset.unwrap_or(0))
        .take(q.limit.unwrap_or(usize::MAX))
        .map(|st| {
            let see = u
                .require(Action::ViewPersonalIds {
                    class: &st.class_id,
                })
                .is_ok();
            let mut j = json!(st);
            if !see {
                j.as_object_mut().map(|o| o.remove("ma_dinh_danh"));
            }
            j
        })
        .collect();
    Ok(Json(json!({ "students": v })))
}

#[derive(Deserialize)]
struct NewStudent {
    full_name: String,
    dob: String,
    gender: String,
    ma_dinh_danh: String,
    class_id: String,
    /// Chuyển đến: the date and the school the student comes from.
    #[serde(default)]
    arrived: Option<NewArrival>,
}

/// The page's form sends the two fields empty for a student who starts here: that is no
/// arrival, not a malformed one.
#[derive(Deserialize, Default)]
#[serde(default)]
struct NewArrival {
    date: String,
    from_school: String,
}

async fn create_student(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<NewStudent>,
) -> Result<Response, ApiError> {
    u.require(Action::ManageSchool)?;
    let n = json_body(b)?;
    let (full_name, dob, gender, ma) =
        super::validate_student(&n.full_name, &n.dob, &n.gender, &n.ma_dinh_danh).map_err(
            |errs| {
                let mut e = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_student",
                    errs.iter()
                        .map(|(_, m)| m.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                e.details = Some(json!(
                    errs.iter()
                        .map(|(f, m)| json!({"field": f, "message": m}))
                        .collect::<Vec<_>>()
                ));
                e
            },
        )?;
    let st = Student {
        id: String::new(),
        full_name,
        dob,
        gender,
        ma_dinh_danh: ma,
        class_id: n.class_id,
        arrived: None,
        left: None,
    };
    // add_student draws the opaque id; save_student refuses a mã định danh another student has
    // and opens the register line (dated the arrival for a student who transferred in).
    let arrived = n.arrived;
    let st = write(&s, &u, move |tx| {
        let mut st = st;
        if let Some(a) =
            arrived.filter(|a| !(a.date.trim().is_empty() && a.from_school.trim().is_empty()))
        {
            let a = super::changes::arrival(tx, &a.date, &a.from_school)?;
            super::changes::check_in_year(tx, "Ngày chuyển đến", &a.date, &st.class_id)?;
            st.arrived = Some(a);
        }
        super::changes::check_birth(tx, &st.dob, &st.class_id)?;
        crate::gradebook::moves::guard_roll(tx, |tx| super::add_student(tx, st))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "student": st }))).into_response())
}

#[derive(Deserialize)]
struct ImportQuery {
    mode: Option<String>,
    /// The digest a preview handed out (students): apply acts only on the same plan.
    preview: Option<String>,
    /// Row numbers, comma-separated, of suspect rows the user confirmed (students).
    confirm: Option<String>,
}

fn import_problems_error(problems: &[import::RowProblem]) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_has_errors",
        format!(
            "Tệp còn {} lỗi; chưa nhập dòng nào. Sửa tệp rồi thử lại.",
            problems.len()
        ),
    );
    e.details = Some(json!(problems));
    e
}

/// "2,17" → {2, 17}.
fn confirmed_rows(q: Option<&str>) -> Result<BTreeSet<usize>, ApiError> {
    q.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse().map_err(|_| {
                ApiError::from(SchoolError::Invalid(format!(
                    "Số dòng xác nhận không hợp lệ: \"{x}\"."
                )))
            })
        })
        .collect()
}

fn student_plan_json(plan: &import::StudentPlan) -> serde_json::Value {
    use import::RowAction;
    json!({
        "clean": plan.is_clean(),
        "rows": plan.rows.len(),
        "changes": plan.changes().count(),
        "added": plan.count(RowAction::Add),
        "updates": plan.count(RowAction::Update),
        "unchanged": plan.count(RowAction::Unchanged),
        "diff": plan.changes().collect::<Vec<_>>(),
        "confirm_needed": plan.confirm_needed(),
        "notes": plan.notes(),
        "preview": plan.digest(),
        "problems": plan.problems,
    })
}

/// Applies a student list's plan in `tx` as the commit does: a class change within the year
/// carries the scores (gradebook::moves); into another year's class (next year's lists) the
/// old year's rows stay where they are. A new or returning student may not enter the roll of
/// a locked term (`guard_roll_from`, the sheet having no dates).
fn apply_sheet(
    tx: &mut crate::store::Tx<'_>,
    plan: &import::StudentPlan,
    confirmed: &BTreeSet<usize>,
) -> Result<import::AppliedStudents, SchoolError> {
    crate::gradebook::moves::guard_roll_from(tx, crate::gradebook::moves::Source::Sheet, |tx| {
        import::apply_students_moving(tx, plan, confirmed, &|tx, id, to| {
            let same_year = match (tx.get(&super::STUDENTS, id)?, tx.get(&super::CLASSES, to)?) {
                (Some(st), Some(to)) => tx
                    .get(&super::CLASSES, &st.class_id)?
                    .is_some_and(|from| from.year == to.year),
                _ => false,
            };
            if same_year {
                crate::gradebook::moves::move_student(tx, id, to)?;
            }
            Ok(())
        })
    })
}

/// How a trial of the commit ended; always an `Err`, so `Store::write` writes nothing.
/// `Applied` carries the rows' học bạ notes as the commit would leave them.
enum Trial {
    Applied(Vec<HocbaNote>),
    Refused(SchoolError),
    Store(crate::store::StoreError),
    Hocba(crate::gradebook::hocba::HocbaError),
}

/// A row of a student import whose student's signed học bạ the row leaves out of date (review
/// r17 #7): the row, the student, and the note the PATCH API answers (`hocba::resign_note`).
#[derive(serde::Serialize)]
struct HocbaNote {
    row: usize,
    student: String,
    full_name: String,
    note: String,
}

/// The học bạ notes of the updated rows of `plan`, read where the import is applied (`r`: the
/// trial's transaction, or the store after the commit) — the one note of `hocba::resign_note`.
fn hocba_notes(
    r: &impl crate::store::Read,
    plan: &import::StudentPlan,
) -> Result<Vec<HocbaNote>, crate::gradebook::hocba::HocbaError> {
    let mut out = Vec::new();
    for row in plan.changes() {
        if row.action != import::RowAction::Update || row.student.id.is_empty() {
            continue;
        }
        if let Some(note) = crate::gradebook::hocba::resign_note(r, &row.student.id)? {
            out.push(HocbaNote {
                row: row.row,
                student: row.student.id.clone(),
                full_name: row.student.full_name.clone(),
                note,
            });
        }
    }
    Ok(out)
}

/// `out` (a student plan's answer) with the rows' học bạ notes: on each row of `diff` as
/// `hocba_note`, and all of them as `hocba_notes`.
fn with_hocba_notes(out: &mut serde_json::Value, notes: &[HocbaNote]) {
    if let Some(diff) = out["diff"].as_array_mut() {
        for d in diff {
            if let Some(n) = notes.iter().find(|n| d["row"] == json!(n.row)) {
                d["hocba_note"] = json!(n.note);
            }
        }
    }
    out["hocba_notes"] = json!(notes);
}

impl From<crate::store::StoreError> for Trial {
    fn from(e: crate::store::StoreError) -> Self {
        Trial::Store(e)
    }
}

/// The preview's run of the commit: the plan applied in a write transaction that is always
/// dropped (nothing written, no audit event), every suspect row as if confirmed. When the
/// whole sheet is refused, each changing row is tried alone so every refused row is listed
/// with its number; a refusal no single row explains is the file's (row 0). A sheet the trial
/// applies also says which rows leave a signed học bạ out of date ([`hocba_notes`], review r17
/// #7), read in the trial's transaction.
fn trial_apply(
    store: &crate::store::Store,
    actor: &crate::store::Actor,
    plan: &import::StudentPlan,
) -> Result<(Vec<import::RowProblem>, Vec<HocbaNote>), ApiError> {
    let changes: Vec<&import::StudentRow> = plan.changes().collect();
    if changes.is_empty() {
        return Ok((vec![], vec![]));
    }
    let all: BTreeSet<usize> = changes.iter().map(|r| r.row).collect();
    let attempt =
        |rows: Vec<import::StudentRow>| -> Result<Result<Vec<HocbaNote>, SchoolError>, ApiError> {
            let part = import::StudentPlan {
                rows,
                problems: vec![],
                converted: vec![],
            };
            match store.write(actor, |tx| match apply_sheet(tx, &part, &all) {
                Ok(_) => match hocba_notes(&*tx, &part) {
                    Ok(notes) => Err::<(), Trial>(Trial::Applied(notes)),
                    Err(e) => Err(Trial::Hocba(e)),
                },
                Err(e) => Err(Trial::Refused(e)),
            }) {
                Ok(()) => Ok(Ok(vec![])),
                Err(Trial::Applied(notes)) => Ok(Ok(notes)),
                Err(Trial::Refused(e)) => Ok(Err(e)),
                Err(Trial::Store(e)) => Err(e.into()),
                Err(Trial::Hocba(e)) => Err(e.into()),
            }
        };
    let whole = match attempt(changes.iter().map(|r| (*r).clone()).collect())? {
        Ok(notes) => return Ok((vec![], notes)),
        Err(e) => e,
    };
    let mut out = Vec::new();
    for r in &changes {
        if let Err(e) = attempt(vec![(*r).clone()])? {
            out.push(import::RowProblem {
                row: r.row,
                field: "lop".into(),
                message: e.to_string(),
            });
        }
    }
    if out.is_empty() {
        out.push(import::RowProblem {
            row: 0,
            field: String::new(),
            message: whole.to_string(),
        });
    }
    Ok((out, vec![]))
}

async fn import_students(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<ImportQuery>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ImportExport)?;
    let commit = q.mode.as_deref() == Some("commit");
    let confirmed = confirmed_rows(q.confirm.as_deref())?;
    let year = current_year(&s)?;
    let store = s.store.clone();
    let actor = u.actor();
    let out = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let sheet = import::read_students(&bytes);
        let plan = import::plan_student_sheet(&store.read()?, &year, &sheet)?;
        if !commit {
            // What the commit would refuse is shown now, by row (review r13 #6): a preview
            // that says clean is one the commit applies.
            let (refused, notes) = trial_apply(&store, &actor, &plan)?;
            let mut out = student_plan_json(&plan);
            with_hocba_notes(&mut out, &notes);
            if !refused.is_empty() {
                out["clean"] = json!(false);
                let mut all = plan.problems.clone();
                all.extend(refused);
                all.sort_by_key(|p| p.row);
                out["problems"] = json!(all);
            }
            return Ok(out);
        }
        if !plan.is_clean() {
            return Err(import_problems_error(&plan.problems));
        }
        let Some(seen) = q.preview else {
            return Err(SchoolError::Invalid(
                "Hãy xem trước tệp rồi mới nhập (thiếu mã xem trước).".into(),
            )
            .into());
        };
        // Planned again inside the write transaction: what is applied is what this digest
        // names, or nothing.
        let done = store.write(&actor, |tx| {
            let plan = import::plan_student_sheet(&*tx, &year, &sheet)?;
            if plan.digest() != seen {
                return Err(SchoolError::StalePreview);
            }
            apply_sheet(tx, &plan, &confirmed)
        })?;
        let mut out = student_plan_json(&plan);
        with_hocba_notes(&mut out, &hocba_notes(&store.read()?, &plan)?);
        out["committed"] = json!(true);
        out["written"] = json!(done.written);
        out["skipped"] = json!(done.skipped);
        Ok(out)
    })
    .await??;
    Ok(Json(out))
}

/// Earlier years' lines of the paper sổ đăng bộ, from an xlsx in the register's own columns:
/// ?mode=commit writes every line or none (planned again in the write), else a preview.
async fn import_register(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<ImportQuery>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    u.require(Action::ImportExport)?;
    let commit = q.mode.as_deref() == Some("commit");
    let store = s.store.clone();
    let actor = u.actor();
    let today = jiff::Timestamp::now().to_zoned(super::time_zone()).date();
    let out = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        use super::register::{import_lines, plan_import};
        let summary = |p: &super::register::RegisterImport| {
            json!({ "clean": p.problems.is_empty() && !p.lines.is_empty(), "rows": p.lines.len(),
                    "changes": p.lines.len(), "added": p.lines.len(), "updates": 0, "unchanged": 0,
                    "next": p.next, "notes": p.notes, "problems": p.problems })
        };
        let plan = plan_import(&store.read()?, &bytes, today)?;
        if !commit {
            return Ok(summary(&plan));
        }
        if !plan.problems.is_empty() || plan.lines.is_empty() {
            return Err(import_problems_error(&plan.problems));
        }
        let plan = store.write(&actor, |tx| -> Result<_, ApiError> {
            let today = super::changes::today(tx);
            let plan = plan_import(&*tx, &bytes, today)?;
            if !plan.problems.is_empty() || plan.lines.is_empty() {
                return Err(import_problems_error(&plan.problems));
            }
            import_lines(tx, &plan)?;
            Ok(plan)
        })?;
        let mut out = summary(&plan);
        out["committed"] = json!(true);
        out["written"] = json!(plan.lines.len());
        Ok(out)
    })
    .await??;
    Ok(Json(out))
}

async fn import_staff(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<ImportQuery>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ImportExport)?;
    u.require(Action::ManageAccounts)?;
    let commit = q.mode.as_deref() == Some("commit");
    let store = s.store.clone();
    let actor = u.actor();
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let out = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let plan = import::plan_staff(&store.read()?, &bytes)?;
        let unchanged = plan.rows.iter().filter(|r| r.action == import::RowAction::Unchanged).count();
        let changes = plan.rows.len() - unchanged;
        if !commit {
            return Ok(json!({ "clean": plan.is_clean(), "rows": plan.rows.len(), "changes": changes, "added": changes - plan.updates, "updates": plan.updates, "unchanged": unchanged, "notes": plan.notes, "problems": plan.problems }));
        }
        if !plan.is_clean() {
            return Err(import_problems_error(&plan.problems));
        }
        // Hash outside the write transaction; one temporary password per new account.
        let rx = store.read()?;
        let mut creds = Vec::new();
        for r in &plan.rows {
            if crate::auth::find_by_username(&rx, &r.username)?.is_none() {
                let p = crate::auth::temporary_password();
                creds.push((p.clone(), crate::auth::hash_password(&p)));
            }
        }
        drop(rx);
        let creds = std::sync::Mutex::new(creds.into_iter());
        let issued = store.write(&actor, |tx| -> Result<_, ApiError> {
            let issued = import::apply_staff(tx, &plan.rows, || creds.lock().expect("not poisoned").next().expect("one password per new account"))?;
            // A BGH member the sheet demotes or disables holds the signing CA no more.
            crate::gradebook::hocba::ca::drop_stale_wraps(tx)?;
            Ok(issued)
        })?;
        Ok(json!({ "clean": true, "committed": true, "rows": plan.rows.len(), "changes": changes, "added": changes - plan.updates, "updates": plan.updates, "unchanged": unchanged, "issued": issued, "problems": [] }))
    })
    .await??;
    Ok(Json(out))
}

fn xlsx_response(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[derive(Deserialize)]
struct ExportQuery {
    /// One class (the page's class selector); the whole school when absent.
    #[serde(default)]
    class: Option<String>,
}

async fn export_students(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    u.require(Action::ImportExport)?;
    let class = q.class.filter(|c| !c.is_empty());
    let rx = s.store.read()?;
    let name = match &class {
        Some(c) => {
            // A class that names nothing is refused, not a 404 (review r21 #5).
            let class = rx.get(&super::CLASSES, c)?.ok_or_else(|| {
                crate::http::bad_filter(format!(
                    "Không có lớp “{}” trong trường: chọn một lớp trong danh sách.",
                    c.chars().take(40).collect::<String>()
                ))
            })?;
            format!("hoc-sinh-{}-{}.xlsx", super::slug(&class.name), class.year)
        }
        // The whole school's roll, named by the year in force (review r20 #11).
        None => match super::school_info(&rx)? {
            Some(i) => format!("hoc-sinh-toan-truong-{}.xlsx", i.current_year),
            None => "hoc-sinh-toan-truong.xlsx".to_string(),
        },
    };
    drop(rx);
    let store = s.store.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        import::export_students(&store.read()?, class.as_deref())
    })
    .await??;
    Ok(xlsx_response(&name, bytes))
}

async fn export_staff(State(s): State<Shared>, u: ApiUser) -> Result<Response, ApiError> {
    u.require(Action::ImportExport)?;
    // Named by the school year and the day it was taken (review r21 #8): staff change.
    let year = crate::school::school_info(&s.store.read()?)?.map(|i| i.current_year);
    let day = jiff::Timestamp::now().to_zoned(super::time_zone()).date();
    let name = match year {
        Some(y) => format!("can-bo-{y}-{day}.xlsx"),
        None => format!("can-bo-{day}.xlsx"),
    };
    let store = s.store.clone();
    let bytes = tokio::task::spawn_blocking(move || import::export_staff(&store.read()?)).await??;
    Ok(xlsx_response(&name, bytes))
}

/// Changes the học bạ's identity details of one student: the fields sent, the others kept.
async fn put_profile(
    State(s): State<Shared>,
    u: ApiUser,
    Path(student): Path<String>,
    b: JsonBody<super::ProfilePatch>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let p = json_body(b)?;
    let id = student.clone();
    let x = write(&s, &u, move |tx| super::save_profile(tx, &student, p)).await?;
    let note = crate::gradebook::hocba::resign_note(&s.store.read()?, &id)?;
    Ok(Json(json!({ "profile": x, "hocba_note": note })))
}

/// Sửa thông tin học sinh: the fields sent, the others kept.
async fn edit_student(
    State(s): State<Shared>,
    u: ApiUser,
    Path(student): Path<String>,
    b: JsonBody<super::changes::StudentEdit>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let e = json_body(b)?;
    let id = student.clone();
    let x = write(&s, &u, move |tx| {
        super::changes::edit_student(tx, &student, e)
    })
    .await?;
    // A signed học bạ that printed the old details says so (review r15 #1).
    let note = crate::gradebook::hocba::resign_note(&s.store.read()?, &id)?;
    Ok(Json(json!({ "student": x, "hocba_note": note })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    class_id: String,
}

/// Chuyển lớp: the student's score rows and records go with them (`gradebook::moves`).
async fn move_student(
    State(s): State<Shared>,
    u: ApiUser,
    Path(student): Path<String>,
    b: JsonBody<MoveBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let m = json_body(b)?;
    let x = write(&s, &u, move |tx| {
        crate::gradebook::moves::move_student(tx, &student, &m.class_id)
    })
    .await?;
    Ok(Json(json!({ "student": x })))
}

async fn transfer_out(
    State(s): State<Shared>,
    u: ApiUser,
    Path(student): Path<String>,
    b: JsonBody<super::changes::TransferOut>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let t = json_body(b)?;
    let x = write(&s, &u, move |tx| {
        crate::gradebook::moves::guard_roll(tx, |tx| super::changes::transfer_out(tx, &student, t))
    })
    .await?;
    Ok(Json(json!({ "student": x })))
}

async fn withdraw(
    State(s): State<Shared>,
    u: ApiUser,
    Path(student): Path<String>,
    b: JsonBody<super::changes::Withdrawal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let w = json_body(b)?;
    let x = write(&s, &u, move |tx| {
        crate::gradebook::moves::guard_roll(tx, |tx| super::changes::withdraw(tx, &student, w))
    })
    .await?;
    Ok(Json(json!({ "student": x })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NextBody {
    next: u32,
}

/// The number the register's next line gets (continuing a paper book).
async fn set_register_next(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<NextBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let body = json_body(b)?;
    let x = write(&s, &u, move |tx| super::register::set_next(tx, body.next)).await?;
    Ok(Json(json!({ "next": x })))
}

/// Nhập học lại: a student who left comes back, on a new register line.
async fn re_enrol(
    State(s): State<Shared>,
    u: ApiUser,
    Path(student): Path<String>,
    b: JsonBody<super::changes::ReEnrolment>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let r = json_body(b)?;
    let x = write(&s, &u, move |tx| {
        crate::gradebook::moves::guard_roll(tx, |tx| super::changes::re_enrol(tx, &student, r))
    })
    .await?;
    Ok(Json(json!({ "student": x })))
}

#[derive(Deserialize)]
struct YearQuery {
    /// "2026-2027"; the current year when absent.
    year: Option<String>,
}

/// The year asked for, or the current one; (the school, the year).
fn register_year(s: &Shared, q: YearQuery) -> Result<(super::SchoolInfo, String), ApiError> {
    let info = crate::school::school_info(&s.store.read()?)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_provisioned",
            "Trường chưa được khai báo (chạy tram provision hoặc --demo).",
        )
    })?;
    let year = q
        .year
        .filter(|y| !y.is_empty())
        .unwrap_or_else(|| info.current_year.clone());
    // The year names the downloaded file too: only "2026-2027" shapes — a filter refused
    // as every other (400 `bad_filter`, review r21 #5).
    if !super::is_school_year(&year) {
        return Err(crate::http::bad_filter(format!(
            "Năm học \"{}\" không hợp lệ: ghi dạng 2026-2027.",
            year.chars().take(20).collect::<String>()
        )));
    }
    Ok((info, year))
}

/// Sổ đăng bộ of a year (the lines of the students who entered in it).
async fn get_register(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<YearQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ImportExport)?;
    let (_, year) = register_year(&s, q)?;
    let rows = crate::gradebook::register::rows(&s.store.read()?, &year)?;
    Ok(Json(json!({ "year": year, "lines": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrikeBody {
    reason: String,
    /// The student of the line, when it is her current one: off the roll or on a new line —
    /// asked for, never assumed (review r16 #2).
    #[serde(default)]
    after: Option<super::register::AfterStrike>,
}

/// Gạch bỏ a line opened by mistake (it stays in the register, struck, with the reason).
async fn strike_line(
    State(s): State<Shared>,
    u: ApiUser,
    Path(number): Path<String>,
    b: JsonBody<StrikeBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageSchool)?;
    let body = json_body(b)?;
    let number: u32 = number.trim().parse().map_err(|_| {
        ApiError::from(SchoolError::Invalid(format!(
            "Số đăng bộ không hợp lệ: \"{number}\"."
        )))
    })?;
    let x = write(&s, &u, move |tx| {
        crate::gradebook::moves::guard_roll_from(
            tx,
            crate::gradebook::moves::Source::Strike,
            |tx| super::register::strike(tx, number, &body.reason, body.after),
        )
    })
    .await?;
    Ok(Json(json!({ "line": x })))
}

async fn export_register_xlsx(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<YearQuery>,
) -> Result<Response, ApiError> {
    u.require(Action::ImportExport)?;
    let (info, year) = register_year(&s, q)?;
    let store = s.store.clone();
    let y = year.clone();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let rows = crate::gradebook::register::rows(&store.read()?, &y)?;
        Ok(super::register::xlsx(
            &rows,
            &info.name,
            &y,
            &info.grades(),
        )?)
    })
    .await??;
    Ok(xlsx_response(&format!("so-dang-bo-{year}.xlsx"), bytes))
}

async fn export_register_pdf(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<YearQuery>,
) -> Result<Response, ApiError> {
    u.require(Action::ImportExport)?;
    let (info, year) = register_year(&s, q)?;
    let store = s.store.clone();
    let y = year.clone();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let rows = crate::gradebook::register::rows(&store.read()?, &y)?;
        crate::gradebook::register::register_pdf(&info, &y, &rows).map_err(ApiError::internal)
    })
    .await??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"so-dang-bo-{year}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

impl From<crate::school::SchoolError> for ApiError {
    fn from(e: crate::school::SchoolError) -> Self {
        let status = match &e {
            crate::school::SchoolError::Store(s) => return ApiError::internal(s),
            crate::school::SchoolError::ClassExists(_)
            | crate::school::SchoolError::StalePreview => StatusCode::CONFLICT,
            crate::school::SchoolError::NoSuchClass(_)
            | crate::school::SchoolError::NoSuchSubject(_)
            | crate::school::SchoolError::NoSuchTeacher(_)
            | crate::school::SchoolError::NoSuchDepartment(_)
            | crate::school::SchoolError::NoSuchStudent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            crate::school::SchoolError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// The school year in force, or 409 while the school is not set up yet.
pub fn current_year(s: &Shared) -> Result<String, ApiError> {
    crate::school::school_info(&s.store.read()?)?
        .map(|i| i.current_year)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "not_provisioned",
                "Trường chưa được khai báo (chạy tram provision hoặc --demo).",
            )
        })
}
