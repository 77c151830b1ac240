//! The approval workflow: what a signature covers, submitting a version, the reviewer's
//! verdict, approving one plan or a whole month.

use super::*;

#[derive(Serialize)]
struct SignedFile<'a> {
    name: &'a str,
    mime: &'a str,
    size: u64,
    blake3: &'a str,
}

#[derive(Serialize)]
struct SignedContent<'a> {
    format: &'static str,
    plan: &'a str,
    version: u32,
    teacher: &'a str,
    layout: Layout,
    title: &'a str,
    subject: &'a str,
    grade: u8,
    periods: u8,
    teach_on: String,
    fields: &'a Fields,
    files: Vec<SignedFile<'a>>,
    /// Only when set, so a plan without the link signs exactly the bytes it always did.
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_line: Option<&'a str>,
    /// Which lesson that line was (the Phụ lục III's version and the lesson's title), when
    /// the link recorded it: left out otherwise, so earlier signatures verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_lesson: Option<&'a LinkedLesson>,
}

/// The exact bytes a version's digest is taken over (JSON, fields in a fixed order), with each
/// file named by `hashes[i]` (the stored content hash, or one computed afresh).
pub fn signed_content(v: &Version, hashes: &[String]) -> Vec<u8> {
    let c = SignedContent {
        format: "tram.lesson-plan/1",
        plan: &v.plan,
        version: v.number,
        teacher: &v.teacher,
        layout: v.layout,
        title: &v.title,
        subject: &v.subject,
        grade: v.grade,
        periods: v.periods,
        teach_on: v.teach_on.to_string(),
        fields: &v.fields,
        files: v
            .files
            .iter()
            .zip(hashes)
            .map(|(f, h)| SignedFile {
                name: &f.name,
                mime: &f.mime,
                size: f.size,
                blake3: h,
            })
            .collect(),
        plan_line: v.plan_line.as_deref(),
        plan_lesson: v.plan_lesson.as_ref(),
    };
    serde_json::to_vec(&c).expect("serialisable")
}

/// The digest as recorded: files named by their stored content hash.
pub fn digest(v: &Version) -> String {
    content_digest(v)
}

/// A document that goes through the signing workflow: a lesson plan's version, and the
/// department's plans and minutes (`dept`), so every kind is signed, checked and recorded by the
/// same code. Each kind names itself inside its signed content (`format`), so a signature over
/// one kind can never be read as another.
pub trait Signable {
    /// The id the signature statement names (a plan's, a department plan's, a minutes').
    fn doc_id(&self) -> &str;
    fn number(&self) -> u32;
    /// The exact bytes the digest is taken over.
    fn content(&self) -> Vec<u8>;
    /// The digest recorded when the version was handed in, if it was.
    fn recorded_digest(&self) -> Option<&str>;
    /// Records a signature: the digest it covers, the signature, the state it leads to.
    fn record(&mut self, digest: String, sig: Signature, state: State, at: &str);
}

impl Signable for Version {
    fn doc_id(&self) -> &str {
        &self.plan
    }
    fn number(&self) -> u32 {
        self.number
    }
    fn content(&self) -> Vec<u8> {
        let hashes: Vec<String> = self.files.iter().map(|f| f.blob.clone()).collect();
        signed_content(self, &hashes)
    }
    fn recorded_digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
    fn record(&mut self, digest: String, sig: Signature, state: State, at: &str) {
        self.digest = Some(digest);
        self.signatures.push(sig);
        self.state = state;
        self.updated_at = at.to_string();
    }
}

/// BLAKE3 of a document's signed content.
pub fn content_digest(d: &impl Signable) -> String {
    blake3::hash(&d.content()).to_hex().to_string()
}

/// Signs a document's content as `p` with the key registered to them and records the signature
/// and the state it leads to. A version handed in earlier must still hold what was handed in:
/// a second signature never covers other content than the first.
pub fn sign_document(
    tx: &Tx<'_>,
    doc: &mut impl Signable,
    p: &Principal,
    signer: &dyn Signer,
    action: SignAction,
    to: State,
    now: &str,
) -> Result<String, LessonError> {
    check_signer(tx, p, signer)?;
    let d = content_digest(doc);
    if action != SignAction::Submit && doc.recorded_digest().is_some_and(|r| r != d) {
        return Err(LessonError::State(
            "Nội dung khác với bản đã ký nộp; không ký được.".into(),
        ));
    }
    let sig = sign::sign(
        signer,
        action,
        doc.doc_id(),
        doc.number(),
        (p.id(), &p.account.full_name),
        now,
        &d,
    );
    doc.record(d.clone(), sig, to, now);
    Ok(d)
}

/// Checks every signature of a document against its content as stored now: (signature, what
/// is wrong) for each that fails; empty when all verify.
pub fn check_document(doc: &impl Signable, sigs: &[Signature]) -> Vec<(Signature, String)> {
    let d = content_digest(doc);
    sigs.iter()
        .filter_map(|s| {
            sign::check(s, doc.doc_id(), doc.number(), &d)
                .err()
                .map(|e| (s.clone(), e))
        })
        .collect()
}

/// The signer's key must be the one registered to the person signing.
fn check_signer(tx: &Tx<'_>, p: &Principal, signer: &dyn Signer) -> Result<(), LessonError> {
    let rec = tx.get(&KEYS, p.id())?.ok_or(LessonError::NoKey)?;
    if rec.public_key != hex::encode(signer.public_key()) {
        return Err(LessonError::NoKey);
    }
    Ok(())
}

/// Who hands a document in and when: only its author (`author_word`: "giáo viên", "người"), only
/// a draft; `shown` is its state as its pages word it (whom it waits for).
pub fn may_hand_in(
    author: &str,
    p: &Principal,
    state: State,
    shown: &str,
    author_word: &str,
) -> Result<(), LessonError> {
    if author != p.id() {
        return Err(LessonError::Forbidden(format!(
            "Chỉ {author_word} soạn kế hoạch này mới nộp được."
        )));
    }
    if state != State::Draft {
        return Err(LessonError::State(format!(
            "Kế hoạch đang ở trạng thái “{shown}”; chỉ nộp được bản nháp."
        )));
    }
    Ok(())
}

/// The teacher hands in the current draft, signing its digest.
pub fn submit(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
) -> Result<Plan, LessonError> {
    let (mut plan, mut v) = load(tx, id)?;
    // Only its author hands it in: whether she heads its tổ is her own account's.
    let heads: std::collections::HashSet<String> = match &p.account.department {
        Some(d) if p.has(Role::DeptHead) => [format!("{}/{d}", p.id())].into(),
        _ => Default::default(),
    };
    let shown = super::state_words(v.state, &plan.teacher, plan.department.as_deref(), &heads);
    may_hand_in(&plan.teacher, p, v.state, shown, "giáo viên")?;
    if v.fields.knowledge.is_empty() && v.fields.competences.is_empty() && v.files.is_empty() {
        return Err(invalid(
            "Kế hoạch còn trống: ghi mục tiêu hoặc đính kèm tệp kế hoạch trước khi nộp.",
        ));
    }
    let now = now_str(tx);
    let d = sign_document(
        tx,
        &mut v,
        p,
        signer,
        SignAction::Submit,
        State::Submitted,
        &now,
    )?;
    let old = plan.clone();
    sync_head(&mut plan, &v, &now);
    plan.submitted_at = Some(now);
    plan.comment = None;
    tx.put(&VERSIONS, &version_key(id, v.number), &v, "lessons.submit")?;
    save_plan(tx, Some(&old), &plan, "lessons.submit")?;
    tx.event(
        "lessons.submit",
        id,
        Some(serde_json::json!({ "version": v.number, "blake3": d })),
    );
    Ok(plan)
}

fn not_own(plan: &Plan, p: &Principal, what: &str) -> Result<(), LessonError> {
    if plan.teacher == p.id() {
        return Err(LessonError::Forbidden(format!(
            "Không được tự {what} kế hoạch của chính mình."
        )));
    }
    Ok(())
}

/// The department head passes a submitted plan on to BGH, or returns it with comments.
pub fn review(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    passed: bool,
    comment: &str,
) -> Result<Plan, LessonError> {
    let (mut plan, mut v) = load(tx, id)?;
    let dept = plan.department.clone().unwrap_or_default();
    refuse(
        p,
        Action::ReviewLessonPlans { department: &dept },
        "Chỉ tổ trưởng của tổ này (hoặc Ban giám hiệu) duyệt kế hoạch này.",
    )?;
    not_own(&plan, p, "duyệt")?;
    // The approver may also return a plan the tổ passed (one she cannot approve as it
    // stands: a lesson its Phụ lục III changed or dropped since, review r20 #3).
    let returns_reviewed =
        !passed && v.state == State::Reviewed && permits(p, Action::ApproveLessonPlans);
    if v.state != State::Submitted && !returns_reviewed {
        return Err(LessonError::State(format!(
            "Kế hoạch đang ở trạng thái “{}”; tổ chỉ duyệt kế hoạch vừa nộp.",
            v.state.label()
        )));
    }
    let comment = nfc(comment.trim());
    if !passed && comment.is_empty() {
        return Err(invalid("Ghi nhận xét để giáo viên biết cần sửa gì."));
    }
    if comment.chars().count() > 5000 {
        return Err(invalid("Nhận xét tối đa 5000 ký tự."));
    }
    let now = now_str(tx);
    // The role she reviews in: the tổ's head, or BGH (a tổ trưởng's own plan, or any).
    let role = if p.has(Role::DeptHead)
        && !dept.is_empty()
        && p.account.department.as_deref() == Some(dept.as_str())
    {
        "Tổ trưởng"
    } else if p.has(Role::Principal) {
        "Hiệu trưởng"
    } else if p.has(Role::VicePrincipal) {
        "Phó hiệu trưởng"
    } else {
        ""
    };
    v.review = Some(Review {
        by: p.id().into(),
        name: p.account.full_name.clone(),
        role: role.into(),
        at: now.clone(),
        passed,
        comment: comment.clone(),
    });
    v.state = if passed {
        State::Reviewed
    } else {
        State::Returned
    };
    v.updated_at = now.clone();
    let old = plan.clone();
    sync_head(&mut plan, &v, &now);
    plan.comment = (!passed).then_some(comment.clone());
    let action = if passed {
        "lessons.review"
    } else {
        "lessons.return"
    };
    tx.put(&VERSIONS, &version_key(id, v.number), &v, action)?;
    save_plan(tx, Some(&old), &plan, action)?;
    tx.event(
        action,
        id,
        Some(serde_json::json!({ "version": v.number, "comment": comment })),
    );
    Ok(plan)
}

fn approve_one(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
    now: &str,
) -> Result<Plan, LessonError> {
    let (mut plan, mut v) = load(tx, id)?;
    not_own(&plan, p, "phê duyệt")?;
    match v.state {
        State::Reviewed => {}
        State::Submitted => {
            return Err(LessonError::State(
                "Kế hoạch chưa được tổ trưởng duyệt; chưa phê duyệt được.".into(),
            ));
        }
        s => {
            return Err(LessonError::State(format!(
                "Kế hoạch đang ở trạng thái “{}”; chỉ phê duyệt kế hoạch tổ đã duyệt.",
                s.label()
            )));
        }
    }
    if v.digest.is_none() {
        return Err(LessonError::State(
            "Kế hoạch chưa được giáo viên ký nộp; không phê duyệt.".into(),
        ));
    }
    let d = sign_document(
        tx,
        &mut v,
        p,
        signer,
        SignAction::Approve,
        State::Approved,
        now,
    )?;
    let old = plan.clone();
    sync_head(&mut plan, &v, now);
    plan.approved_version = Some(v.number);
    plan.approved_at = Some(now.to_string());
    tx.put(&VERSIONS, &version_key(id, v.number), &v, "lessons.approve")?;
    save_plan(tx, Some(&old), &plan, "lessons.approve")?;
    tx.event(
        "lessons.approve",
        id,
        Some(serde_json::json!({ "version": v.number, "blake3": d })),
    );
    Ok(plan)
}

fn require_approver(p: &Principal) -> Result<(), LessonError> {
    refuse(
        p,
        Action::ApproveLessonPlans,
        "Chỉ Hiệu trưởng hoặc Phó hiệu trưởng phê duyệt kế hoạch.",
    )
}

/// The principal (or a vice principal) approves one reviewed plan, signing its digest.
pub fn approve(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
) -> Result<Plan, LessonError> {
    require_approver(p)?;
    check_signer(tx, p, signer)?;
    let now = now_str(tx);
    approve_one(tx, p, id, signer, &now)
}

#[derive(Debug, Serialize)]
pub struct BatchOutcome {
    /// The plans signed, in the order of the month's index.
    pub approved: Vec<Plan>,
    /// Reviewed plans left out, with why: the approver's own plans, and those whose lesson
    /// the Phụ lục III changed or dropped (the refusal's words, "Chưa phê duyệt được …").
    pub skipped: Vec<(String, String)>,
}

/// A plan as the approval form listed it: its id and the version shown, so the signatures cover
/// what the approver read and nothing handed in since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub id: String,
    pub version: u32,
}

/// Approves the reviewed plans of `month` (optionally one department) that the form listed,
/// each signed, in one transaction: all of them or none. The list must be exactly what waits
/// now — a plan reviewed, approved, returned or handed in again since the form was drawn
/// refuses the whole batch, naming it, so no one signs a plan they were never shown.
pub fn approve_month(
    tx: &mut Tx<'_>,
    p: &Principal,
    month: &str,
    department: Option<&str>,
    listed: &[Listed],
    signer: &dyn Signer,
) -> Result<BatchOutcome, LessonError> {
    approve_month_holding(tx, p, month, department, listed, &[], signer)
}

/// [`approve_month`] leaving `held` (plan id, why) waiting — plans whose link the Phụ lục III
/// changed or dropped (`LinkGate`): listed in `skipped` with why, the others approved; all of
/// them held is a refusal naming each (review r20 #3).
pub fn approve_month_holding(
    tx: &mut Tx<'_>,
    p: &Principal,
    month: &str,
    department: Option<&str>,
    listed: &[Listed],
    held: &[(String, String)],
    signer: &dyn Signer,
) -> Result<BatchOutcome, LessonError> {
    require_approver(p)?;
    check_signer(tx, p, signer)?;
    parse_month(month)?;
    let waiting = month_to_approve(tx, p, month, department)?;
    let changed = list_changes(tx, p, &waiting, listed)?;
    if !changed.is_empty() {
        return Err(LessonError::ListChanged(changed.join("; ")));
    }
    if waiting.is_empty() {
        return Err(LessonError::State(format!(
            "Không có kế hoạch nào của tháng {} đang chờ phê duyệt.",
            month_label(month)
        )));
    }
    let is_held = |id: &str| held.iter().any(|(h, _)| h == id);
    let waiting: Vec<Plan> = waiting.into_iter().filter(|w| !is_held(&w.id)).collect();
    if waiting.is_empty() {
        let whys: Vec<&str> = held.iter().map(|(_, why)| why.as_str()).collect();
        return Err(LessonError::State(whys.join(" ")));
    }
    let now = now_str(tx);
    let mut skipped: Vec<(String, String)> = reviewed_in_month(tx, month, department)?
        .into_iter()
        .filter(|plan| plan.teacher == p.id())
        .map(|plan| (plan.id, "kế hoạch của chính người duyệt".to_string()))
        .collect();
    skipped.extend(held.iter().cloned());
    let mut approved = Vec::with_capacity(waiting.len());
    for plan in waiting {
        approved.push(approve_one(tx, p, &plan.id, signer, &now)?);
    }
    tx.event(
        "lessons.approve_month",
        month,
        Some(serde_json::json!({
            "count": approved.len(),
            "department": department,
            "plans": approved.iter().map(|x| (&x.id, x.version)).collect::<Vec<_>>(),
        })),
    );
    Ok(BatchOutcome { approved, skipped })
}

/// How the plans waiting now differ from the form's list, one phrase per plan ("«Bài 1»
/// vừa được tổ duyệt"); empty when they are the same plans at the same versions.
fn list_changes(
    r: &impl Read,
    p: &Principal,
    waiting: &[Plan],
    listed: &[Listed],
) -> Result<Vec<String>, StoreError> {
    let sent: BTreeMap<&str, u32> = listed.iter().map(|l| (l.id.as_str(), l.version)).collect();
    let mut out = Vec::new();
    for plan in waiting {
        match sent.get(plan.id.as_str()) {
            None => out.push(format!("«{}» vừa được tổ duyệt, chờ phê duyệt", plan.title)),
            Some(&v) if v != plan.version => out.push(format!(
                "«{}» vừa được nộp lại (phiên bản {})",
                plan.title, plan.version
            )),
            Some(_) => {}
        }
    }
    for l in listed {
        if waiting.iter().any(|w| w.id == l.id) {
            continue;
        }
        out.push(match r.get(&PLANS, &l.id)? {
            None => format!("kế hoạch {} không còn", l.id),
            Some(plan) => {
                let why = match plan.state {
                    State::Approved => "vừa được phê duyệt",
                    State::Returned => "vừa bị trả lại",
                    State::Draft => "đang được sửa",
                    State::Submitted => "vừa được nộp lại, chờ tổ duyệt",
                    State::Reviewed if plan.teacher == p.id() => "là kế hoạch của chính bạn",
                    State::Reviewed => "không thuộc tháng hoặc tổ đã chọn",
                };
                format!("«{}» {why}", plan.title)
            }
        });
    }
    Ok(out)
}

/// The plans of a month (of one department, or all) a reviewer has passed.
fn reviewed_in_month(
    r: &impl Read,
    month: &str,
    department: Option<&str>,
) -> Result<Vec<Plan>, StoreError> {
    Ok(r.scan(&MONTHS, &format!("{month}/"))?
        .into_iter()
        .map(|(_, plan)| plan)
        .filter(|plan| {
            plan.state == State::Reviewed
                && department.is_none_or(|d| plan.department.as_deref() == Some(d))
        })
        .collect())
}

/// What "Ký duyệt cả tháng" signs for `p` (the month's reviewed plans of one department, or
/// all, less the approver's own): the form lists it, and `approve_month` refuses a list that is
/// not this one.
pub fn month_to_approve(
    r: &impl Read,
    p: &Principal,
    month: &str,
    department: Option<&str>,
) -> Result<Vec<Plan>, StoreError> {
    Ok(reviewed_in_month(r, month, department)?
        .into_iter()
        .filter(|plan| plan.teacher != p.id())
        .collect())
}

/// "2026-11" → the first day of that month.
pub fn parse_month(m: &str) -> Result<Date, LessonError> {
    let bad = || invalid(format!("Tháng “{m}” không hợp lệ (dạng 2026-11)."));
    let (y, mo) = m.split_once('-').ok_or_else(bad)?;
    let (y, mo): (i16, i8) = (
        y.parse().map_err(|_| bad())?,
        mo.parse().map_err(|_| bad())?,
    );
    if !(1900..=2999).contains(&y) || y.to_string().len() != 4 || m.len() != 7 {
        return Err(bad());
    }
    Date::new(y, mo, 1).map_err(|_| bad())
}

pub fn month_label(m: &str) -> String {
    match m.split_once('-') {
        Some((y, mo)) => format!("{mo}/{y}"),
        None => m.to_string(),
    }
}

#[cfg(test)]
mod signed_bytes {
    use super::*;

    fn version(plan_line: Option<&str>) -> Version {
        serde_json::from_value(serde_json::json!({
            "plan": "kh-1", "number": 1, "teacher": "u-a", "layout": "secondary",
            "title": "Bài 1", "subject": "toan", "grade": 6, "periods": 2,
            "teach_on": "2026-09-21", "fields": {"knowledge": "K"}, "state": "draft",
            "created_at": "t", "updated_at": "t", "digest": null, "review": null,
            "plan_line": plan_line,
        }))
        .unwrap()
    }

    /// The bytes a lesson plan's signatures cover, as every build before the Phụ lục III link
    /// wrote them: a plan without the link signs exactly these, so old signatures verify.
    #[test]
    fn a_plan_without_a_link_signs_the_bytes_it_always_did() {
        let old = r#"{"format":"tram.lesson-plan/1","plan":"kh-1","version":1,"teacher":"u-a","layout":"secondary","title":"Bài 1","subject":"toan","grade":6,"periods":2,"teach_on":"2026-09-21","fields":{"knowledge":"K","competences":"","qualities":"","materials":"","activities":[],"adjustments":""},"files":[]}"#;
        let v = version(None);
        assert_eq!(String::from_utf8(v.content()).unwrap(), old);
        assert_eq!(
            digest(&v),
            blake3::hash(old.as_bytes()).to_hex().to_string()
        );
        // A link is signed with the plan.
        let linked = version(Some("pl3-1#3"));
        assert!(
            String::from_utf8(linked.content())
                .unwrap()
                .ends_with(r#","files":[],"plan_line":"pl3-1#3"}"#)
        );
        assert_ne!(digest(&linked), digest(&v));
        // With the lesson it names (review r16 #7): the Phụ lục III's version and the title.
        let mut named = linked.clone();
        named.plan_lesson = Some(LinkedLesson {
            pl3: "pl3-1".into(),
            version: 2,
            line: 3,
            lesson: "Bài 2b. Vật liệu".into(),
            periods: 2,
        });
        assert!(
            String::from_utf8(named.content()).unwrap().ends_with(
                r#","plan_line":"pl3-1#3","plan_lesson":{"pl3":"pl3-1","version":2,"line":3,"lesson":"Bài 2b. Vật liệu","periods":2}}"#
            )
        );
        assert_ne!(digest(&named), digest(&linked));
    }
}
