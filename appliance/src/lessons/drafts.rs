//! A teacher's drafts: creating and editing a plan (each save a new version), its attachments
//! within the quota, and deleting it.

use super::*;

/// What a teacher types.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanInput {
    pub title: String,
    pub subject: String,
    pub grade: u8,
    #[serde(default = "one")]
    pub periods: u8,
    pub teach_on: Date,
    pub layout: Option<Layout>,
    #[serde(default)]
    pub fields: Fields,
}

fn one() -> u8 {
    1
}

fn check_input(tx: &Tx<'_>, input: &mut PlanInput) -> Result<(), LessonError> {
    input.title = nfc(input.title.trim());
    if input.title.is_empty() {
        return Err(invalid("Nhập tên bài dạy."));
    }
    if input.title.chars().count() > 300 {
        return Err(invalid("Tên bài dạy tối đa 300 ký tự."));
    }
    if tx.get(&crate::school::SUBJECTS, &input.subject)?.is_none() {
        return Err(invalid("Chọn một môn học của trường."));
    }
    if !(1..=12).contains(&input.grade) {
        return Err(invalid("Khối lớp phải từ 1 đến 12."));
    }
    if !(1..=20).contains(&input.periods) {
        return Err(invalid("Số tiết phải từ 1 đến 20."));
    }
    check_teach_on(tx, input.teach_on)?;
    input.fields.normalise()
}

/// The school year "2026-2027" a day falls in (1 August to 31 July).
pub fn school_year_of(d: Date) -> String {
    let first = if d.month() >= 8 {
        d.year()
    } else {
        d.year() - 1
    };
    format!("{first}-{}", first + 1)
}

/// The one check of a lesson's date, on create and every edit (review r14 #4a): it falls in
/// the school's current school year or the next one, which teachers prepare over the summer
/// — not in a year gone by (a plan for a lesson already taught) nor years ahead. Without a
/// school year recorded, the year of today stands for the current one.
pub fn check_teach_on(tx: &Tx<'_>, d: Date) -> Result<(), LessonError> {
    let current = crate::school::school_info(tx)?
        .map(|i| i.current_year)
        .filter(|y| y.len() == 9)
        .unwrap_or_else(|| school_year_of(crate::school::changes::today(tx)));
    let Some(first) = current
        .split_once('-')
        .and_then(|(a, _)| a.parse::<i16>().ok())
    else {
        return Ok(());
    };
    let next = format!("{}-{}", first + 1, first + 2);
    let year = school_year_of(d);
    if year != current && year != next {
        return Err(invalid(format!(
            "Ngày dạy {} thuộc năm học {year}: chỉ soạn kế hoạch bài dạy cho năm học hiện tại {current} (01/08/{} – 31/07/{}) hoặc năm học sau {next}.",
            d.strftime("%d/%m/%Y"),
            first,
            first + 1
        )));
    }
    Ok(())
}

pub(super) fn now_str(tx: &Tx<'_>) -> String {
    tx.now().to_string()
}

/// Writes a plan's summary and keeps the month and waiting indexes in step.
pub(crate) fn save_plan(
    tx: &mut Tx<'_>,
    old: Option<&Plan>,
    plan: &Plan,
    action: &str,
) -> Result<(), StoreError> {
    if let Some(o) = old
        && o.month() != plan.month()
    {
        tx.delete(&MONTHS, &format!("{}/{}", o.month(), o.id), action)?;
    }
    let waiting = waiting_key(plan);
    if let Some(k) = old.and_then(waiting_key)
        && Some(&k) != waiting.as_ref()
    {
        tx.delete(&WAITING, &k, action)?;
    }
    if let Some(k) = &waiting {
        tx.put(&WAITING, k, plan, action)?;
    }
    tx.put(&PLANS, &plan.id, plan, action)?;
    tx.put(
        &MONTHS,
        &format!("{}/{}", plan.month(), plan.id),
        plan,
        action,
    )
}

pub(super) fn load(tx: &Tx<'_>, id: &str) -> Result<(Plan, Version), LessonError> {
    let plan = tx.get(&PLANS, id)?.ok_or(LessonError::NotFound)?;
    let v = tx
        .get(&VERSIONS, &version_key(id, plan.version))?
        .ok_or(LessonError::NotFound)?;
    Ok((plan, v))
}

pub(super) fn sync_head(plan: &mut Plan, v: &Version, now: &str) {
    plan.title = v.title.clone();
    plan.subject = v.subject.clone();
    plan.grade = v.grade;
    plan.teach_on = v.teach_on;
    plan.state = v.state;
    plan.version = v.number;
    plan.plan_line = v.plan_line.clone();
    plan.updated_at = now.to_string();
}

/// A draft linked before links named their lesson (a `plan_line` without `plan_lesson`, from
/// before review r16) is given the lesson its link names — `lesson`, `dept`'s resolution of it
/// (`LinkView`: the lesson as linked, from `dept.links.v1`) — as it is handed in, in the same
/// transaction, so what the teacher signs names it like every newer link. Anything else (no
/// such draft, another line, a link named already) is left as it is.
pub fn name_old_link(tx: &mut Tx<'_>, id: &str, lesson: LinkedLesson) -> Result<(), LessonError> {
    let Some(plan) = tx.get(&PLANS, id)? else {
        return Ok(());
    };
    let key = version_key(id, plan.version);
    let Some(mut v) = tx.get(&VERSIONS, &key)? else {
        return Ok(());
    };
    let named = format!("{}#{}", lesson.pl3, lesson.line);
    if v.state != State::Draft
        || v.plan_lesson.is_some()
        || v.plan_line.as_deref() != Some(named.as_str())
        || lesson.lesson.is_empty()
    {
        return Ok(());
    }
    v.plan_lesson = Some(lesson);
    tx.put(&VERSIONS, &key, &v, "lessons.link")?;
    Ok(())
}

/// Points the teacher's current draft at the line of their Phụ lục III it implements (or at
/// none), with the lesson that line is (`lesson`, [`LinkedLesson`]). Only a draft — an
/// approved or returned plan gets a new draft version, a waiting one is refused: the link is
/// part of what the teacher signs when handing it in. Whether the line exists is `dept`'s to
/// check before calling this.
pub fn set_plan_line(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    line: Option<String>,
    lesson: Option<LinkedLesson>,
) -> Result<Plan, LessonError> {
    let (mut plan, mut v) = editable(tx, p, id)?;
    let old = plan.clone();
    let now = now_str(tx);
    v.plan_lesson = line.as_ref().and(lesson.clone());
    v.plan_line = line.clone();
    v.updated_at = now.clone();
    sync_head(&mut plan, &v, &now);
    tx.put(&VERSIONS, &version_key(id, v.number), &v, "lessons.link")?;
    save_plan(tx, Some(&old), &plan, "lessons.link")?;
    tx.event(
        "lessons.link",
        id,
        Some(serde_json::json!({
            "line": line,
            "version": lesson.as_ref().map(|l| l.version),
            "lesson": lesson.as_ref().map(|l| &l.lesson),
        })),
    );
    Ok(plan)
}

/// A new plan (version 1, a draft) for the signed-in teacher.
pub fn create(tx: &mut Tx<'_>, p: &Principal, mut input: PlanInput) -> Result<Plan, LessonError> {
    if !permits(p, Action::SubmitLessonPlans) {
        return Err(LessonError::Forbidden(
            "Chỉ giáo viên soạn kế hoạch bài dạy.".into(),
        ));
    }
    check_input(tx, &mut input)?;
    let layout = match input.layout {
        Some(l) => l,
        None => crate::school::school_info(tx)?
            .map(|i| Layout::of_level(&i.level))
            .unwrap_or_default(),
    };
    let now = now_str(tx);
    let id = format!("kh-{:012x}", rand::random::<u64>() >> 16);
    let mut fields = input.fields;
    if fields.activities.is_empty() {
        fields.activities = layout
            .labels()
            .activity_names
            .iter()
            .map(|n| Activity {
                name: n.to_string(),
                ..Activity::default()
            })
            .collect();
    }
    let v = Version {
        plan: id.clone(),
        number: 1,
        teacher: p.id().to_string(),
        layout,
        title: input.title,
        subject: input.subject,
        grade: input.grade,
        periods: input.periods,
        teach_on: input.teach_on,
        fields,
        files: vec![],
        state: State::Draft,
        created_at: now.clone(),
        updated_at: now.clone(),
        digest: None,
        signatures: vec![],
        review: None,
        plan_line: None,
        plan_lesson: None,
    };
    let mut plan = Plan {
        id: id.clone(),
        teacher: p.id().to_string(),
        teacher_name: p.account.full_name.clone(),
        department: p.account.department.clone(),
        subject: String::new(),
        grade: 0,
        title: String::new(),
        teach_on: v.teach_on,
        state: State::Draft,
        version: 1,
        approved_version: None,
        created_at: now.clone(),
        updated_at: now.clone(),
        submitted_at: None,
        approved_at: None,
        comment: None,
        library_item: None,
        plan_line: None,
    };
    sync_head(&mut plan, &v, &now);
    tx.put(
        &VERSIONS,
        &version_key(&id, 1),
        &v,
        "lessons.version.create",
    )?;
    save_plan(tx, None, &plan, "lessons.create")?;
    Ok(plan)
}

/// The draft the owner may change: the current version if it is a draft; a new version copied
/// from it if it was returned or approved (approved versions never change); refused while the
/// plan waits for review or approval.
fn editable(tx: &mut Tx<'_>, p: &Principal, id: &str) -> Result<(Plan, Version), LessonError> {
    let (plan, v) = load(tx, id)?;
    if plan.teacher != p.id() {
        return Err(LessonError::Forbidden(
            "Chỉ giáo viên soạn kế hoạch này mới sửa được.".into(),
        ));
    }
    match v.state {
        State::Draft => Ok((plan, v)),
        State::Returned | State::Approved => {
            let now = now_str(tx);
            let next = Version {
                number: v.number + 1,
                state: State::Draft,
                created_at: now.clone(),
                updated_at: now,
                digest: None,
                signatures: vec![],
                review: None,
                ..v
            };
            tx.event(
                "lessons.amend",
                &plan.id,
                Some(serde_json::json!({ "from": next.number - 1, "version": next.number })),
            );
            Ok((plan, next))
        }
        State::Submitted | State::Reviewed => Err(LessonError::State(
            "Kế hoạch đang chờ duyệt; chưa sửa được. Chờ tổ trưởng trả lại hoặc phê duyệt xong."
                .into(),
        )),
    }
}

fn store_draft(
    tx: &mut Tx<'_>,
    mut plan: Plan,
    mut v: Version,
    action: &str,
) -> Result<Plan, LessonError> {
    let now = now_str(tx);
    v.updated_at = now.clone();
    let old = plan.clone();
    sync_head(&mut plan, &v, &now);
    tx.put(&VERSIONS, &version_key(&plan.id, v.number), &v, action)?;
    save_plan(tx, Some(&old), &plan, action)?;
    Ok(plan)
}

/// Changes the owner's draft (or starts a new version of a returned or approved plan) to `input`.
pub fn edit(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    mut input: PlanInput,
) -> Result<Plan, LessonError> {
    check_input(tx, &mut input)?;
    let (plan, mut v) = editable(tx, p, id)?;
    // A link to a plan line is for the subject and grade it was checked against (`dept`):
    // another subject or grade would keep a link that no longer holds.
    if v.plan_line.is_some() && (v.subject != input.subject || v.grade != input.grade) {
        return Err(invalid(
            "Kế hoạch bài dạy đang gắn với một dòng trong kế hoạch giáo dục (Phụ lục III) của môn và khối hiện tại; bỏ gắn ở trang Phụ lục III trước khi đổi môn hoặc khối.",
        ));
    }
    // Likewise its school year: the link was checked against a Phụ lục III of the year the
    // lesson was taught in (review r14 #4a: an edit moved a linked lesson a year on).
    if v.plan_line.is_some() && school_year_of(v.teach_on) != school_year_of(input.teach_on) {
        return Err(invalid(format!(
            "Kế hoạch bài dạy đang gắn với Phụ lục III năm học {}; ngày dạy {} thuộc năm học {}. Bỏ gắn ở trang Phụ lục III trước khi chuyển sang năm học khác.",
            school_year_of(v.teach_on),
            input.teach_on.strftime("%d/%m/%Y"),
            school_year_of(input.teach_on)
        )));
    }
    v.title = input.title;
    v.subject = input.subject;
    v.grade = input.grade;
    v.periods = input.periods;
    v.teach_on = input.teach_on;
    if let Some(l) = input.layout {
        v.layout = l;
    }
    v.fields = input.fields;
    store_draft(tx, plan, v, "lessons.edit")
}

/// As [`edit`], from what the API sent: `patch` holds what changes — any of title, subject,
/// grade, periods, teach_on, layout and fields, the fields object merged key by key — and
/// everything it leaves out stays as it is (a body without `fields` used to empty the plan's
/// content and reset its periods to 1).
pub fn edit_patch(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    patch: serde_json::Value,
) -> Result<Plan, LessonError> {
    if !patch.is_object() {
        return Err(invalid("Dữ liệu gửi lên phải là một đối tượng JSON."));
    }
    let (_, v) = editable(tx, p, id)?;
    let mut current = serde_json::json!({
        "title": v.title,
        "subject": v.subject,
        "grade": v.grade,
        "periods": v.periods,
        "teach_on": v.teach_on,
        "layout": v.layout,
        "fields": v.fields,
    });
    merge(&mut current, patch);
    let input: PlanInput = serde_json::from_value(current)
        .map_err(|e| invalid(format!("Dữ liệu gửi lên không hợp lệ: {e}")))?;
    edit(tx, p, id, input)
}

/// `patch` over `base`: objects key by key, anything else replaced; a null keeps what is there.
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) if !p.is_null() => *b = p,
        _ => {}
    }
}

/// Whether a file of this type and size may be attached (documents, slides, video, audio,
/// images; up to the configured size). Checked when an upload starts and again when it is
/// attached.
/// The most a teacher's lesson-plan attachments may hold together (every version's files, each
/// stored file counted once), with uploads still open counted as reserved.
pub const ATTACHMENT_QUOTA: u64 = 5 << 30;

/// Bytes of the files attached to `teacher`'s plans, each stored file once.
pub fn attached_bytes(r: &impl Read, teacher: &str) -> Result<u64, StoreError> {
    let mut plans = Vec::new();
    r.scan_each(&PLANS, "", &mut |id, plan: Plan| {
        if plan.teacher == teacher {
            plans.push(id.to_string());
        }
        Ok(())
    })?;
    let mut seen = std::collections::BTreeSet::new();
    let mut n = 0;
    for id in plans {
        for (_, v) in r.scan(&VERSIONS, &format!("{id}/"))? {
            for f in v.files {
                if seen.insert(f.blob.clone()) {
                    n += f.size;
                }
            }
        }
    }
    Ok(n)
}

pub fn check_attachment(
    cfg: &LessonConfig,
    name: &str,
    mime: &str,
    size: u64,
) -> Result<(), LessonError> {
    if matches!(mime, "application/epub+zip" | "text/plain; charset=utf-8") {
        return Err(LessonError::File(format!(
            "Kế hoạch bài dạy không nhận loại tệp của “{name}”. Nhận: DOCX, PDF, PPTX, XLSX, MP4, WEBM, MP3, JPG, PNG."
        )));
    }
    if size > cfg.max_file_mb << 20 {
        return Err(LessonError::File(format!(
            "Tệp “{name}” quá lớn: tối đa {} MB.",
            cfg.max_file_mb
        )));
    }
    Ok(())
}

/// Attaches an uploaded file to the owner's draft.
pub fn attach(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    file: FileRef,
) -> Result<Plan, LessonError> {
    check_attachment(&config(tx)?, &file.name, &file.mime, file.size)?;
    // The quota holds however the file was uploaded (a library upload can be attached too).
    let used = attached_bytes(tx, p.id())?;
    if used + file.size > ATTACHMENT_QUOTA {
        return Err(LessonError::File(format!(
            "Vượt hạn mức tệp đính kèm kế hoạch bài dạy ({} GB): đã dùng {} MB, tệp cần {} MB.",
            ATTACHMENT_QUOTA >> 30,
            used >> 20,
            file.size.div_ceil(1 << 20)
        )));
    }
    let (plan, mut v) = editable(tx, p, id)?;
    if v.files.len() >= 20 {
        return Err(LessonError::File("Tối đa 20 tệp đính kèm.".into()));
    }
    if v.files.iter().any(|f| f.blob == file.blob) {
        return Err(LessonError::File(format!(
            "Tệp “{}” đã được đính kèm.",
            file.name
        )));
    }
    v.files.push(file);
    store_draft(tx, plan, v, "lessons.attach")
}

pub fn detach(tx: &mut Tx<'_>, p: &Principal, id: &str, blob: &str) -> Result<Plan, LessonError> {
    let (plan, mut v) = editable(tx, p, id)?;
    let before = v.files.len();
    v.files.retain(|f| f.blob != blob);
    if v.files.len() == before {
        return Err(LessonError::NotFound);
    }
    store_draft(tx, plan, v, "lessons.detach")
}

/// Removes a plan that was never submitted.
pub fn delete(tx: &mut Tx<'_>, p: &Principal, id: &str) -> Result<(), LessonError> {
    let (plan, v) = load(tx, id)?;
    if plan.teacher != p.id() {
        return Err(LessonError::Forbidden(
            "Chỉ giáo viên soạn kế hoạch này mới xoá được.".into(),
        ));
    }
    if v.number != 1 || v.state != State::Draft {
        return Err(LessonError::State(
            "Chỉ xoá được kế hoạch chưa từng nộp; các phiên bản đã nộp được lưu lại.".into(),
        ));
    }
    tx.delete(&VERSIONS, &version_key(id, 1), "lessons.delete")?;
    tx.delete(
        &MONTHS,
        &format!("{}/{}", plan.month(), id),
        "lessons.delete",
    )?;
    if let Some(k) = waiting_key(&plan) {
        tx.delete(&WAITING, &k, "lessons.delete")?;
    }
    tx.delete(&PLANS, id, "lessons.delete")?;
    Ok(())
}
