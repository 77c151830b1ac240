//! Export for inspection: one month, or one teacher's school year, as a PDF (every plan with
//! its signatures) and a ZIP holding that PDF, each plan's signed content, its files and a
//! signature manifest that anyone can check offline (`tram lessons verify --export FILE.zip`,
//! or by hand: BLAKE3 and Ed25519, see the README inside the ZIP).

use std::io::{Read as _, Seek, Write};

use serde::{Deserialize, Serialize};

use super::sign::{self, SignAction};
use super::{LessonError, MONTHS, PLANS, Plan, Version, version_key};
use crate::auth::Principal;
use crate::store::{AuditPolicy, Collection, Read, Rx, StoreError, blob::BlobStore};

/// What to export.
#[derive(Debug, Clone)]
pub enum Scope {
    /// "2026-11".
    Month(String),
    /// A teacher's plans in a school year ("2026-2027": 1 August to 31 July); `name` is the
    /// teacher's name, for the file's name (never the internal account id).
    TeacherYear {
        teacher: String,
        name: String,
        year: String,
    },
}

impl Scope {
    pub fn label(&self) -> String {
        match self {
            Scope::Month(m) => format!("tháng {}", super::month_label(m)),
            Scope::TeacherYear { year, .. } => format!("năm học {year}"),
        }
    }
    /// The download's name without extension: "ke-hoach-bai-day-2026-11",
    /// "ke-hoach-bai-day-nguyen-thi-lan-2026-2027" (the teacher's name in ASCII, review r20 #11).
    pub fn file_stem(&self) -> String {
        match self {
            Scope::Month(m) => format!("ke-hoach-bai-day-{m}"),
            Scope::TeacherYear {
                teacher,
                name,
                year,
            } => {
                let who = match crate::school::slug(name) {
                    n if n.is_empty() => crate::school::slug(teacher),
                    n => n,
                };
                format!("ke-hoach-bai-day-{who}-{year}")
            }
        }
    }
}

fn year_bounds(year: &str) -> Result<(jiff::civil::Date, jiff::civil::Date), LessonError> {
    let bad = || super::invalid(format!("Năm học “{year}” không hợp lệ (dạng 2026-2027)."));
    // The one school-year rule (a well-formed year long past is a year without plans, not a
    // malformed one: review r24 #6).
    if !crate::school::is_school_year(year) {
        return Err(bad());
    }
    let (a, b) = year.split_once('-').ok_or_else(bad)?;
    let (a, b): (i16, i16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    Ok((jiff::civil::date(a, 8, 1), jiff::civil::date(b, 7, 31)))
}

/// The plans in scope that `p` may read, each with the version to show: the approved one if
/// there is one (unless `p` sees work in progress, who gets the current version).
pub fn select(rx: &Rx, p: &Principal, scope: &Scope) -> Result<Vec<(Plan, Version)>, LessonError> {
    let plans: Vec<Plan> = match scope {
        Scope::Month(m) => {
            super::parse_month(m)?;
            rx.scan(&MONTHS, &format!("{m}/"))?
                .into_iter()
                .map(|(_, p)| p)
                .collect()
        }
        Scope::TeacherYear { teacher, year, .. } => {
            let (from, to) = year_bounds(year)?;
            let mut v = Vec::new();
            rx.scan_each(&PLANS, "", &mut |_, plan: Plan| {
                if plan.teacher == *teacher && plan.teach_on >= from && plan.teach_on <= to {
                    v.push(plan);
                }
                Ok(())
            })?;
            v
        }
    };
    let mut out = Vec::new();
    for plan in plans {
        let Some(plan) = super::seen_by(rx, p, plan)? else {
            continue;
        };
        let n = plan.version;
        if let Some(v) = rx.get(&super::VERSIONS, &version_key(&plan.id, n))? {
            out.push((plan, v));
        }
    }
    sort_plans(&mut out);
    Ok(out)
}

/// The order every export prints: department, teacher, teaching day.
fn sort_plans(plans: &mut [(Plan, Version)]) {
    plans.sort_by(|a, b| {
        (
            a.0.department.as_deref(),
            &a.0.teacher_name,
            a.0.teach_on,
            &a.0.id,
        )
            .cmp(&(
                b.0.department.as_deref(),
                &b.0.teacher_name,
                b.0.teach_on,
                &b.0.id,
            ))
    });
}

/// Names the PDF and pages show for ids (subjects, departments).
pub struct Names {
    pub school: String,
    pub subjects: std::collections::HashMap<String, String>,
    pub departments: std::collections::HashMap<String, String>,
    /// Plan id → its link to the Phụ lục III as it reads now, where it is not as signed
    /// (`LinkView::message`: moved, changed, dropped, broken), printed under the lesson it
    /// names ([`Names::resolve_links`]); empty where nothing resolves links (a stored PDF).
    pub links: std::collections::HashMap<String, String>,
    /// `version_key(plan, n)` → what replaced that approved version ([`replaced_note`]),
    /// printed under its title; only the records archive keeps earlier approved versions.
    pub replaced: std::collections::HashMap<String, String>,
}

/// "Đã được thay bằng phiên bản 2, phê duyệt lúc 23/11/2026 09:00." — printed on an earlier
/// approved version in the records archive, `next` the approved version that replaced it.
pub fn replaced_note(next: &Version) -> String {
    match next
        .signatures
        .iter()
        .rev()
        .find(|s| s.action == sign::SignAction::Approve)
    {
        Some(s) => format!(
            "Đã được thay bằng phiên bản {}, phê duyệt lúc {}.",
            next.number,
            when(&s.at)
        ),
        None => format!("Đã được thay bằng phiên bản {}.", next.number),
    }
}

impl Names {
    pub fn load(rx: &impl Read) -> Result<Names, StoreError> {
        Ok(Names {
            school: crate::school::school_info(rx)?
                .map(|i| i.name)
                .unwrap_or_default(),
            subjects: crate::school::list(rx, &crate::school::SUBJECTS)?
                .into_iter()
                .map(|s| (s.id, s.name))
                .collect(),
            departments: crate::school::list(rx, &crate::school::DEPARTMENTS)?
                .into_iter()
                .map(|d| (d.id, d.name))
                .collect(),
            links: Default::default(),
            replaced: Default::default(),
        })
    }

    /// Fills [`Names::links`] for `plans` whose printed version carries the plan's current link,
    /// by `resolve` (`dept`'s): the printed plan says what its page and the API say (review
    /// r18 #7).
    pub fn resolve_links(
        &mut self,
        rx: &Rx,
        resolve: &super::LinkResolver,
        plans: &[(Plan, Version)],
    ) -> Result<(), StoreError> {
        self.fill_links(plans, |p| (resolve.0)(rx, p))
    }

    /// [`Names::resolve_links`] with any resolver — a read's or a write's transaction's.
    pub fn fill_links(
        &mut self,
        plans: &[(Plan, Version)],
        resolve: impl Fn(&Plan) -> Result<Option<super::LinkView>, StoreError>,
    ) -> Result<(), StoreError> {
        for (p, v) in plans {
            // The printed version's link is the one in force (a draft's relink is not: r20 #2).
            if v.plan_line.is_some()
                && let Some(view) = resolve(p)?
                && view.in_force
                && v.plan_line.as_deref()
                    == Some(format!("{}#{}", view.pl3, view.linked_line).as_str())
                && let Some(m) = view.message
            {
                self.links.insert(p.id.clone(), m);
            }
        }
        Ok(())
    }
    pub fn subject(&self, id: &str) -> String {
        self.subjects.get(id).cloned().unwrap_or_else(|| id.into())
    }
    pub fn department(&self, id: Option<&str>) -> String {
        id.and_then(|d| self.departments.get(d).cloned())
            .unwrap_or_default()
    }
}

/// "2026-11-23T02:00:00Z" → "23/11/2026 09:00" (Vietnam time): dd/mm/yyyy HH:MM, as every
/// page and PDF of the school shows a moment (`gradebook::hocba::local_time`).
pub fn when(ts: &str) -> String {
    ts.parse::<jiff::Timestamp>()
        .map(|t| {
            t.to_zoned(crate::school::time_zone())
                .strftime("%d/%m/%Y %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_string())
}

pub fn date_vi(d: jiff::civil::Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), d.month(), d.year())
}

/// Draws one plan (a new page each) in the official layout, then its signatures.
pub fn draw_plan(l: &mut crate::gradebook::pdf::Layout, names: &Names, plan: &Plan, v: &Version) {
    let labels = v.layout.labels();
    l.line(10.0, false, &format!("Trường: {}", names.school));
    l.line(
        10.0,
        false,
        &format!("Tổ: {}", names.department(plan.department.as_deref())),
    );
    l.line(
        10.0,
        false,
        &format!("Họ và tên giáo viên: {}", plan.teacher_name),
    );
    l.gap(6.0);
    l.centred(12.0, true, "KẾ HOẠCH BÀI DẠY");
    l.centred(
        13.0,
        true,
        &format!("TÊN BÀI DẠY: {}", v.title.to_uppercase()),
    );
    l.centred(
        10.0,
        false,
        &format!(
            "Môn học/Hoạt động giáo dục: {}; lớp: {}",
            names.subject(&v.subject),
            v.grade
        ),
    );
    l.centred(
        10.0,
        false,
        &format!(
            "Thời gian thực hiện: {} tiết · ngày dạy {} · phiên bản {} · {}",
            v.periods,
            date_vi(v.teach_on),
            v.number,
            v.state.label()
        ),
    );
    if let Some(note) = names.replaced.get(&super::version_key(&plan.id, v.number)) {
        l.centred(10.0, true, note);
    }
    // The Phụ lục III lesson it carries out, as signed with the version (review r18 #6).
    if let Some(k) = &v.plan_lesson {
        l.paragraph(
            10.0,
            false,
            0.0,
            &format!(
                "Thực hiện: Phụ lục III (kế hoạch giáo dục của giáo viên) bản {}, dòng {}: {} ({} tiết)",
                k.version, k.line, k.lesson, k.periods
            ),
        );
    }
    // …and, when the Phụ lục III changed since, what its link reads as now.
    if let Some(now) = names.links.get(&plan.id) {
        l.paragraph(10.0, false, 0.0, &format!("Liên kết hiện nay: {now}"));
    }
    l.gap(6.0);
    let f = &v.fields;
    let section = |l: &mut crate::gradebook::pdf::Layout, head: &str, body: &str| {
        l.paragraph(10.5, true, 0.0, head);
        if !body.is_empty() {
            l.paragraph(10.0, false, 12.0, body);
        }
    };
    l.paragraph(11.0, true, 0.0, labels.objectives);
    section(l, labels.knowledge, &f.knowledge);
    section(l, labels.competences, &f.competences);
    section(l, labels.qualities, &f.qualities);
    l.gap(4.0);
    section(l, labels.materials, &f.materials);
    l.gap(4.0);
    l.paragraph(11.0, true, 0.0, labels.activities);
    for a in &f.activities {
        l.paragraph(10.5, true, 6.0, &a.name);
        let parts: [(&str, &str); 6] = match v.layout {
            super::Layout::Secondary => [
                ("a) Mục tiêu: ", &a.objective),
                ("b) Nội dung: ", &a.content),
                ("c) Sản phẩm: ", &a.product),
                ("d) Tổ chức thực hiện: ", &a.organisation),
                ("", ""),
                ("", ""),
            ],
            super::Layout::Primary => [
                ("Mục tiêu: ", &a.objective),
                ("Hoạt động của giáo viên: ", &a.teacher),
                ("Hoạt động của học sinh: ", &a.students),
                ("", ""),
                ("", ""),
                ("", ""),
            ],
        };
        for (k, body) in parts {
            if !body.is_empty() {
                l.paragraph(10.0, false, 14.0, &format!("{k}{body}"));
            }
        }
    }
    if !f.adjustments.is_empty() {
        l.gap(4.0);
        section(l, labels.adjustments, &f.adjustments);
    }
    if !v.files.is_empty() {
        l.gap(4.0);
        l.paragraph(10.5, true, 0.0, "Tệp đính kèm");
        for file in &v.files {
            l.paragraph(
                9.0,
                false,
                12.0,
                &format!(
                    "{} ({}) · BLAKE3 {}",
                    file.name,
                    crate::text::human_size(file.size),
                    file.blob
                ),
            );
        }
    }
    if let Some(r) = &v.review {
        l.gap(4.0);
        let verdict = if r.passed {
            "đã duyệt"
        } else {
            "trả lại"
        };
        l.paragraph(
            10.0,
            false,
            0.0,
            &format!("{} {verdict} lúc {}.", r.reviewer(), when(&r.at)),
        );
        if !r.comment.is_empty() {
            l.paragraph(10.0, false, 12.0, &format!("Nhận xét: {}", r.comment));
        }
    }
    l.gap(6.0);
    l.paragraph(10.5, true, 0.0, "Chữ ký số");
    if let Some(d) = &v.digest {
        l.paragraph(9.0, false, 12.0, &format!("BLAKE3 của phiên bản: {d}"));
    }
    if v.signatures.is_empty() {
        l.paragraph(9.5, false, 12.0, "Chưa có chữ ký.");
    }
    for s in &v.signatures {
        l.paragraph(
            9.5,
            false,
            12.0,
            &format!(
                "{}: {} lúc {} · khoá {}",
                s.action.label(),
                s.name,
                when(&s.at),
                &s.public_key[..16]
            ),
        );
    }
}

/// The PDF of a selection, one plan per page (or more when long).
pub fn pdf(names: &Names, title: &str, plans: &[(Plan, Version)]) -> Result<Vec<u8>, LessonError> {
    pdf_with_note(names, title, None, None, plans)
}

/// [`pdf`], with a note under the title (what signs the file, or why nothing does).
fn pdf_with_note(
    names: &Names,
    title: &str,
    note: Option<&str>,
    data: Option<Vec<u8>>,
    plans: &[(Plan, Version)],
) -> Result<Vec<u8>, LessonError> {
    let mut l = crate::gradebook::pdf::Layout::new(false);
    if let Some(json) = data {
        l.attach_json(
            crate::gradebook::hocba::APPROVAL_DATA_FILE,
            "Dữ liệu bản phê duyệt (tháng, phiên bản)",
            json,
        );
    }
    l.centred(14.0, true, &names.school);
    l.centred(13.0, true, title);
    if let Some(note) = note {
        l.gap(4.0);
        l.paragraph(9.5, false, 0.0, note);
    }
    l.gap(8.0);
    if plans.is_empty() {
        l.line(10.0, false, "Không có kế hoạch bài dạy nào.");
    }
    let rows: Vec<Vec<String>> = plans
        .iter()
        .enumerate()
        .map(|(i, (p, v))| {
            vec![
                (i + 1).to_string(),
                date_vi(v.teach_on),
                p.teacher_name.clone(),
                format!("{} {} — {}", names.subject(&v.subject), v.grade, v.title),
                v.state.label().to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let head = ["STT", "Ngày dạy", "Giáo viên", "Bài dạy", "Trạng thái"].map(String::from);
        l.table(&[30.0, 70.0, 120.0, 230.0, 110.0], &head, &rows, 9.0);
    }
    for (p, v) in plans {
        l.new_page();
        draw_plan(&mut l, names, p, v);
    }
    l.finish()
        .map_err(|e| LessonError::Invalid(format!("PDF: {e}")))
}

/// What an export holds: the plans in scope `p` may read, the names to print, and the PDF.
pub struct Prepared {
    pub plans: Vec<(Plan, Version)>,
    pub names: Names,
    pub pdf: Vec<u8>,
}

/// `resolve`: the server's link resolver (`dept`'s), so each printed plan says what its link
/// reads as now.
pub fn prepare(
    rx: &Rx,
    p: &Principal,
    scope: &Scope,
    resolve: &super::LinkResolver,
) -> Result<Prepared, LessonError> {
    let plans = select(rx, p, scope)?;
    let mut names = Names::load(rx)?;
    names.resolve_links(rx, resolve, &plans)?;
    let title = format!("KẾ HOẠCH BÀI DẠY — {}", scope.label().to_uppercase());
    let pdf = pdf(&names, &title, &plans)?;
    Ok(Prepared { plans, names, pdf })
}

/// The approval PDF of a month, one row per "Ký duyệt cả tháng": "{yyyy-mm}/{nnnn}". The file
/// lists every plan of the month approved so far, at its approved version, and carries the
/// approver's PAdES signature when she holds a signing certificate (`gradebook::hocba`'s
/// signers: the school CA's or a licensed CA's); the Ed25519 statements stay on each plan for
/// the box's own checks. The audit log keeps the PDF's digest.
pub const APPROVALS: Collection<MonthApproval> =
    Collection::new("lessons.month_approvals.v1", AuditPolicy::Digest, None);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonthApproval {
    pub month: String,
    pub version: u32,
    pub at: String,
    pub by: String,
    pub by_name: String,
    /// Who signed the PDF (PAdES), as the certificate says; `None`: the file is unsigned.
    pub signed_by: Option<String>,
    /// "{plan}/v{n}" of every plan in the file.
    pub plans: Vec<String>,
    /// SHA-256 of the PDF, hex.
    pub sha256: String,
    /// The PDF, base64.
    pub pdf: String,
    /// When the district hub's time-stamp (PAdES B-T, `relay::stamp`) was added to its
    /// signature; absent while it waits (or on a box not enrolled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<jiff::Timestamp>,
}

impl MonthApproval {
    pub fn pdf_bytes(&self) -> Result<Vec<u8>, LessonError> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.pdf)
            .map_err(|e| LessonError::File(format!("Bản PDF phê duyệt đã lưu bị hỏng ({e}).")))
    }
}

/// The signature register of the approval PDFs (issue 22), kept beside the học bạ's so one
/// verification checks both (`gradebook::hocba::APPROVAL_REGISTER`); written here, in the
/// transaction that signs, and filled in at start for approvals signed before it existed
/// ([`fill_approval_register`]).
pub use crate::gradebook::hocba::{APPROVAL_REGISTER, ApprovalSignature};

/// Adds the register line of every signed month approval that has none — signed before the
/// approval register existed (a box upgraded from before schema 9) —, read from its stored
/// PDF, so an old genuine approval does not read as one the box never made, and the hub
/// receives it too. Run at every start (server and CLI): the keys of the two tables are
/// compared and only an approval without its line is read, so once all have one a start
/// reads no PDF. The tổ of such a line is not known (`None`). Returns the lines added.
pub fn fill_approval_register(
    store: &crate::store::Store,
    now: jiff::Timestamp,
) -> Result<usize, LessonError> {
    let rx = store.read()?;
    let mut registered = std::collections::BTreeSet::new();
    rx.keys_while(&APPROVAL_REGISTER, "", &mut |k| {
        registered.insert(k.to_string());
        true
    })?;
    let mut unregistered = Vec::new();
    rx.keys_while(&APPROVALS, "", &mut |k| {
        if !registered.contains(k) {
            unregistered.push(k.to_string());
        }
        true
    })?;
    let mut missing = Vec::new();
    for key in unregistered {
        let Some(row) = rx.get(&APPROVALS, &key)? else {
            continue;
        };
        // An approval printed without a PAdES signature has nothing to register.
        let Some(signer) = row.signed_by.clone() else {
            continue;
        };
        let (cert_sha256, signature_sha256) =
            crate::pki::pades::newest_signature_ids(&row.pdf_bytes()?)
                .map_err(|e| LessonError::File(format!("{key}: {e}")))?;
        missing.push((
            key,
            ApprovalSignature {
                month: row.month.clone(),
                version: row.version,
                department: None,
                signer,
                cert_sha256,
                signature_sha256,
            },
        ));
    }
    drop(rx);
    if missing.is_empty() {
        return Ok(0);
    }
    store.write(&crate::store::Actor::system(now), |tx| {
        for (key, line) in &missing {
            if tx.get(&APPROVAL_REGISTER, key)?.is_none() {
                tx.put(&APPROVAL_REGISTER, key, line, "lessons.approval_registered")?;
            }
        }
        Ok::<_, LessonError>(())
    })?;
    Ok(missing.len())
}

/// The approver's PAdES key for one approval, unlocked by the route with her PIN, and the
/// school signing CA the school's certificates chain to (an imported one brings its own).
pub struct PadesKey {
    pub signer: crate::pki::signing::Signer,
    pub ca: x509_cert::Certificate,
}

/// The plans of `month` approved so far, each at its approved version.
fn approved_in_month(r: &impl Read, month: &str) -> Result<Vec<(Plan, Version)>, LessonError> {
    let mut out = Vec::new();
    for (_, plan) in r.scan(&MONTHS, &format!("{month}/"))? {
        let Some(n) = plan.approved_version else {
            continue;
        };
        if let Some(v) = r.get(&super::VERSIONS, &version_key(&plan.id, n))? {
            out.push((plan, v));
        }
    }
    sort_plans(&mut out);
    Ok(out)
}

/// Prints the month's approval PDF, signs it with `key` when the approver has one, and stores
/// it as the month's next version — in the approval's own transaction, so the file lists
/// exactly what was approved and an approval never commits without its file. Each plan whose
/// Phụ lục III changed since it was linked says so ("Liên kết hiện nay: …", by `links`, as
/// the unsigned month export does): the approver signs what she sees (review r21 #10).
pub fn record_month_approval(
    tx: &mut crate::store::Tx<'_>,
    p: &Principal,
    month: &str,
    department: Option<&str>,
    key: Option<&PadesKey>,
    links: &super::LinkResolverTx,
) -> Result<MonthApproval, LessonError> {
    let now = tx.now();
    let plans = approved_in_month(tx, month)?;
    let mut names = Names::load(tx)?;
    {
        let tx: &crate::store::Tx<'_> = tx;
        names.fill_links(&plans, |plan| (links.0)(tx, plan))?;
    }
    let at = when(&now.to_string());
    let note = match key {
        Some(k) => {
            let (name, role) = crate::pki::signing::subject_name_and_role(&k.signer.cert);
            format!(
                "Ký số (PAdES) bởi {name}{} lúc {at}: mở tệp bằng trình đọc PDF để xem chữ ký. \
                 Chữ ký phê duyệt Ed25519 của từng kế hoạch ghi ở trang của kế hoạch.",
                role.map(|r| format!(", {r}")).unwrap_or_default()
            )
        }
        None => format!(
            "Bản này không có chữ ký số PAdES: {} chưa có chứng thư ký số. Phê duyệt lúc {at}; \
             chữ ký Ed25519 của từng kế hoạch ghi ở trang của kế hoạch (Trạm kiểm tra được).",
            p.account.full_name
        ),
    };
    let title = format!(
        "PHÊ DUYỆT KẾ HOẠCH BÀI DẠY — THÁNG {}",
        super::month_label(month)
    );
    let version = tx.scan(&APPROVALS, &format!("{month}/"))?.len() as u32 + 1;
    // The file names its month and version (review r15 #5): a verifier — the hub above all —
    // knows which register lines it needs, so a signature minted over it is told apart.
    let data = crate::gradebook::hocba::approval_json(month, version, department);
    let mut bytes = pdf_with_note(&names, &title, Some(&note), Some(data), &plans)?;
    if let Some(k) = key {
        bytes = crate::pki::pades::sign(&bytes, &k.signer, &k.ca, now)
            .map_err(|e| LessonError::State(e.to_string()))?;
    }
    use base64::Engine;
    use sha2::Digest;
    let row = MonthApproval {
        month: month.to_string(),
        version,
        at: now.to_string(),
        by: p.id().to_string(),
        by_name: p.account.full_name.clone(),
        signed_by: key.map(|k| crate::pki::signing::subject_name_and_role(&k.signer.cert).0),
        plans: plans
            .iter()
            .map(|(plan, v)| format!("{}/v{}", plan.id, v.number))
            .collect(),
        sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        pdf: base64::engine::general_purpose::STANDARD.encode(&bytes),
        timestamp: None,
    };
    let row_key = format!("{month}/{version:04}");
    tx.put(&APPROVALS, &row_key, &row, "lessons.month_approval_pdf")?;
    if let Some(signer) = &row.signed_by {
        let (cert_sha256, signature_sha256) = crate::pki::pades::newest_signature_ids(&bytes)
            .map_err(|e| LessonError::State(e.to_string()))?;
        let line = ApprovalSignature {
            month: month.to_string(),
            version,
            department: department.map(str::to_string),
            signer: signer.clone(),
            cert_sha256,
            signature_sha256,
        };
        tx.put(
            &APPROVAL_REGISTER,
            &row_key,
            &line,
            "lessons.approval_registered",
        )?;
        // The stamper's one queue (`hocba::STAMP_WAITING`) holds it until the hub dates it.
        use crate::gradebook::hocba::{APPROVAL_KIND, STAMP_WAITING};
        tx.put(
            &STAMP_WAITING,
            &row_key,
            &APPROVAL_KIND.into(),
            "lessons.stamp_waiting",
        )?;
    }
    Ok(row)
}

/// Stores the time-stamped approval PDF `key` in place of `was` (its SHA-256): the same signed
/// bytes with the token in the signature's unsigned part (or a document time-stamp after it),
/// and takes it off the stamper's queue. Nothing is stored when the row changed meanwhile; a
/// row gone leaves the queue. Returns whether it was stored.
pub fn store_approval_stamp(
    store: &crate::store::Store,
    key: &str,
    was: &str,
    pdf: &[u8],
    at: jiff::Timestamp,
) -> Result<bool, StoreError> {
    use base64::Engine;
    use sha2::Digest;
    store.write(&crate::store::Actor::system(at), |tx| {
        use crate::gradebook::hocba::STAMP_WAITING;
        let Some(mut row) = tx.get(&APPROVALS, key)? else {
            tx.delete(&STAMP_WAITING, key, "lessons.stamp_waiting")?;
            return Ok(false);
        };
        if row.sha256 != was {
            return Ok(false);
        }
        row.sha256 = hex::encode(sha2::Sha256::digest(pdf));
        row.pdf = base64::engine::general_purpose::STANDARD.encode(pdf);
        row.timestamp = row.timestamp.or(Some(at));
        tx.put(&APPROVALS, key, &row, "lessons.month_approval_stamped")?;
        tx.delete(&STAMP_WAITING, key, "lessons.stamp_waiting")?;
        Ok(true)
    })
}

/// The newest approval PDF of `month`, if it was approved as a month.
pub fn month_approval(r: &impl Read, month: &str) -> Result<Option<MonthApproval>, LessonError> {
    super::parse_month(month)?;
    Ok(r.scan(&APPROVALS, &format!("{month}/"))?
        .pop()
        .map(|(_, a)| a))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestSignature {
    pub action: SignAction,
    pub by: String,
    pub name: String,
    pub at: String,
    pub public_key: String,
    pub signature: String,
    /// The exact bytes signed (UTF-8).
    pub statement: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestPlan {
    pub plan: String,
    pub version: u32,
    pub title: String,
    pub teacher: String,
    pub state: String,
    /// The signed content (JSON) inside the ZIP; its BLAKE3 is `blake3`.
    pub content: String,
    pub blake3: Option<String>,
    pub files: Vec<ManifestFile>,
    pub signatures: Vec<ManifestSignature>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub school: String,
    pub scope: String,
    pub created_at: String,
    pub plans: Vec<ManifestPlan>,
    /// The signers' Ed25519 public keys as the box held them, each with the time it was in
    /// use (the school's archive writes them: a reader checks that a signature's key was its
    /// signer's when it signed). Absent from the dashboard's ZIP, whose reader trusts the box.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<SignerKeys>,
}

/// One signer's keys, current and retired, as of the export.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignerKeys {
    /// The account id the signatures name (`by`).
    pub by: String,
    pub name: String,
    pub keys: Vec<KeySpan>,
}

/// A public key (hex) and when it was its owner's signing key: from `from` until `until`
/// (retired, or reset for a forgotten PIN), or still in use (`until` absent).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeySpan {
    pub public_key: String,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// The keys of the accounts that signed `sigs` (each once, in id order), from the box's key
/// records: every key a person used and its time.
pub fn signer_keys<'a>(
    r: &impl Read,
    sigs: impl IntoIterator<Item = &'a sign::Signature>,
) -> Result<Vec<SignerKeys>, StoreError> {
    let mut who: std::collections::BTreeMap<String, String> = Default::default();
    for s in sigs {
        who.entry(s.by.clone()).or_insert_with(|| s.name.clone());
    }
    let mut out = Vec::new();
    for (by, name) in who {
        let Some(rec) = r.get(&sign::KEYS, &by)? else {
            // No key record: nothing vouches for these signatures' keys (the reader is told).
            out.push(SignerKeys {
                by,
                name,
                keys: vec![],
            });
            continue;
        };
        let mut keys: Vec<KeySpan> = rec
            .retired
            .iter()
            .map(|k| KeySpan {
                public_key: k.public_key.clone(),
                from: k.created_at.clone(),
                until: Some(k.retired_at.clone()),
            })
            .collect();
        if !rec.reset && !keys.iter().any(|k| k.public_key == rec.public_key) {
            keys.push(KeySpan {
                public_key: rec.public_key.clone(),
                from: rec.created_at.clone(),
                until: None,
            });
        }
        out.push(SignerKeys { by, name, keys });
    }
    Ok(out)
}

/// Whether `key` (hex) was `by`'s signing key at `at`, by the manifest's key list: the problem
/// otherwise, in English for the CLI.
pub fn key_problem(
    keys: &[SignerKeys],
    by: &str,
    name: &str,
    key: &str,
    at: &str,
) -> Option<String> {
    if keys.is_empty() {
        // A dashboard ZIP: no key list to hold the signature to.
        return None;
    }
    let Some(listed) = keys.iter().find(|k| k.by == by) else {
        return Some(format!("{name}'s keys are not listed in the manifest"));
    };
    let ts = |t: &str| t.parse::<jiff::Timestamp>().ok();
    let held = listed.keys.iter().any(|k| {
        k.public_key == key
            && match (ts(at), ts(&k.from)) {
                (Some(at), Some(from)) => {
                    from <= at && k.until.as_deref().and_then(ts).is_none_or(|u| at <= u)
                }
                _ => false,
            }
    });
    (!held).then(|| format!("the key is not one {name} held at {at} (manifest keys)"))
}

const README: &str = "Kế hoạch bài dạy xuất từ Trạm — cách kiểm tra chữ ký (không cần mạng)

1. manifest.json liệt kê từng kế hoạch: tệp nội dung đã ký (content.json), BLAKE3 của nó,
   các tệp đính kèm với BLAKE3 của từng tệp, và các chữ ký Ed25519.
2. BLAKE3 của content.json phải bằng trường \"blake3\"; content.json ghi BLAKE3 của từng tệp
   đính kèm, và BLAKE3 của tệp trong thư mục files/ phải bằng giá trị đó.
3. Mỗi chữ ký là chữ ký Ed25519 (khoá công khai \"public_key\") trên đúng chuỗi \"statement\";
   statement ghi hành động, kế hoạch, phiên bản, người ký, thời điểm và BLAKE3 ở bước 2.

Cách nhanh nhất: tram lessons verify --export TỆP.zip

Checking offline (English): BLAKE3(content.json) must equal \"blake3\"; content.json names each
file's BLAKE3, which must match the file under files/; each signature is Ed25519 by
\"public_key\" over the exact \"statement\" bytes, which end with that same BLAKE3.
Or run: tram lessons verify --export FILE.zip
";

/// A plan's entry in a signature manifest: its signed content's place and digest, its files and
/// each signature with the exact statement signed.
fn manifest_plan(
    plan: &Plan,
    v: &Version,
    content: String,
    files: Vec<ManifestFile>,
) -> ManifestPlan {
    let mut e = document_entry(
        v,
        v.state,
        &v.signatures,
        &v.title,
        &plan.teacher_name,
        content,
    );
    e.files = files;
    e
}

/// The entry of any signed document (`super::Signable`: a lesson plan, a tổ's plan or
/// minutes) in a signature manifest: `content` is where its signed content
/// (`Signable::content`) sits, relative to the manifest; each signature with its statement.
pub fn document_entry(
    d: &impl super::Signable,
    state: super::State,
    signatures: &[sign::Signature],
    title: &str,
    author: &str,
    content: String,
) -> ManifestPlan {
    ManifestPlan {
        plan: d.doc_id().to_string(),
        version: d.number(),
        title: title.to_string(),
        teacher: author.to_string(),
        state: state.as_str().into(),
        content,
        blake3: d.recorded_digest().map(str::to_string),
        files: vec![],
        signatures: signatures
            .iter()
            .map(|s| ManifestSignature {
                action: s.action,
                by: s.by.clone(),
                name: s.name.clone(),
                at: s.at.clone(),
                public_key: s.public_key.clone(),
                signature: s.signature.clone(),
                statement: sign::statement(
                    s.action,
                    d.doc_id(),
                    d.number(),
                    &s.by,
                    &s.at,
                    &s.digest,
                ),
            })
            .collect(),
    }
}

/// Writes the ZIP: README, manifest.json, the PDF, and per plan its content.json and files.
pub fn zip<W: Write + Seek>(
    out: W,
    blobs: &BlobStore,
    names: &Names,
    scope: &Scope,
    plans: &[(Plan, Version)],
    pdf_bytes: &[u8],
    now: &str,
) -> Result<W, LessonError> {
    use zip::write::SimpleFileOptions;
    let io = |e: std::io::Error| LessonError::File(format!("Không ghi được tệp ZIP: {e}"));
    let ze = |e: zip::result::ZipError| LessonError::File(format!("Không ghi được tệp ZIP: {e}"));
    let mut z = zip::ZipWriter::new(out);
    let deflate = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let mut manifest = Manifest {
        format: "tram.lesson-export/1".into(),
        school: names.school.clone(),
        scope: scope.label(),
        created_at: now.into(),
        plans: vec![],
        keys: vec![],
    };
    for (plan, v) in plans {
        let dir = format!("plans/{}-v{}", plan.id, v.number);
        let hashes: Vec<String> = v.files.iter().map(|f| f.blob.clone()).collect();
        let content = super::signed_content(v, &hashes);
        z.start_file(format!("{dir}/content.json"), deflate)
            .map_err(ze)?;
        z.write_all(&content).map_err(io)?;
        let mut files = Vec::new();
        for (i, f) in v.files.iter().enumerate() {
            let safe: String = f
                .name
                .chars()
                .map(|c| if c == '/' || c == '\\' { '_' } else { c })
                .collect();
            let path = format!("{dir}/files/{}-{safe}", i + 1);
            z.start_file(path.clone(), stored).map_err(ze)?;
            let mut src = blobs
                .open_blob(&f.blob)
                .map_err(|_| LessonError::File(format!("Thiếu tệp “{}” trên Trạm.", f.name)))?;
            std::io::copy(&mut src, &mut z).map_err(io)?;
            files.push(ManifestFile {
                name: f.name.clone(),
                path,
                size: f.size,
                blake3: f.blob.clone(),
            });
        }
        manifest
            .plans
            .push(manifest_plan(plan, v, format!("{dir}/content.json"), files));
    }
    z.start_file(format!("{}.pdf", scope.file_stem()), stored)
        .map_err(ze)?;
    z.write_all(pdf_bytes).map_err(io)?;
    z.start_file("manifest.json", deflate).map_err(ze)?;
    z.write_all(&serde_json::to_vec_pretty(&manifest).expect("serialisable"))
        .map_err(io)?;
    z.start_file("README.txt", deflate).map_err(ze)?;
    z.write_all(README.as_bytes()).map_err(io)?;
    z.finish().map_err(ze)
}

/// The result of checking an exported ZIP, or an archive folder, offline.
#[derive(Debug, Default)]
pub struct ExportCheck {
    /// Signed documents listed (lesson plans, a tổ's plans and minutes).
    pub plans: usize,
    /// Signatures that verify.
    pub valid: usize,
    pub problems: Vec<String>,
    /// What was checked, one line a signature manifest or the archive's manifest.json.
    pub checked: Vec<String>,
    /// What the reader should know but is not a failure (attachments not copied).
    pub notes: Vec<String>,
    /// The fingerprint ([`crate::pki::key_fingerprint`]) of the box key whose signature over
    /// the records archive's manifest.json verifies; None when it is not signed or not a
    /// records archive.
    pub box_fingerprint: Option<String>,
    /// Whether an expected fingerprint was given and the signing box's key is that one.
    pub fingerprint_matches: Option<bool>,
    /// Files present beside a records archive's manifest that it does not list: not part of
    /// what the box signed (reported, never a failure by themselves, never deleted here).
    pub unlisted: Vec<String>,
    /// The mã trường a records archive's manifest names.
    pub school_code: Option<String>,
    /// Attached files named by their BLAKE3 only (the archive does not copy them).
    pub not_copied: usize,
}

/// The records archive's signature file, beside its manifest.json (`app::records`).
pub const RECORDS_SIGNATURE: &str = "manifest.sig";
/// The records archive's manifest format since it is signed.
pub const RECORDS_FORMAT: &str = "tram.records.v2";
/// What the box's device key signs (Ed25519): this line, then the exact bytes of manifest.json.
/// The line keeps the signature from meaning anything else the device key signs (relay batches).
pub const RECORDS_SIGNED_PREFIX: &str = "tram.records.v2 manifest.json\n";

/// The bytes the box signs for a records manifest.
pub fn records_signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut m = RECORDS_SIGNED_PREFIX.as_bytes().to_vec();
    m.extend_from_slice(manifest);
    m
}

/// manifest.sig of a records archive (JSON).
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordsSignature {
    /// "tram.records-signature/1".
    pub format: String,
    /// "Ed25519".
    pub algorithm: String,
    /// The file signed: "manifest.json".
    pub signed: String,
    /// How the signed message is made (for a reader with other tools).
    pub message: String,
    /// The box's device key (the key the hub enrolled for the school), hex.
    pub public_key: String,
    /// SHA-256 of the 32 key bytes, hex: what the district compares.
    pub fingerprint: String,
    /// Ed25519 signature over [`records_signed_message`], hex.
    pub signature: String,
}

/// Whether `expected` (as typed: a fingerprint or the public key itself, hex, spaces and colons
/// allowed) names the key `public_key` (hex).
pub fn expected_key_matches(expected: &str, public_key: &str) -> bool {
    let e = crate::pki::normalise_fingerprint(expected);
    !e.is_empty()
        && (e == public_key.to_ascii_lowercase()
            || crate::pki::key_fingerprint_hex(public_key).is_some_and(|f| f == e))
}

/// Which box key a records archive must be signed by.
#[derive(Clone, Copy)]
pub enum Expect<'a> {
    /// None: the check prints the key's fingerprint for the reader to compare.
    Nothing,
    /// A fingerprint or public key (hex) as typed ([`expected_key_matches`]).
    Key(&'a str),
    /// The key a register holds for the school code the archive names (the hub's record of
    /// its enrolled schools): the key (hex), or why there is none.
    ByCode(&'a dyn Fn(&str) -> Result<String, String>),
}

trait ReadSeek: std::io::Read + Seek {}
impl<T: std::io::Read + Seek> ReadSeek for T {}

/// Where an export's files are read from: a folder, or a ZIP — one code path for both, and for
/// both kinds of export (a records archive, a lesson-plan export).
enum Files<'a> {
    Dir(std::path::PathBuf),
    Zip(zip::ZipArchive<Box<dyn ReadSeek + 'a>>),
}

/// A path a manifest may name: relative, plain, inside the export.
fn plain_path(rel: &str) -> bool {
    !(rel.is_empty()
        || rel.starts_with('/')
        || rel.contains('\\')
        || rel
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == ".."))
}

impl Files<'_> {
    fn read(&mut self, rel: &str) -> Result<Vec<u8>, String> {
        if !plain_path(rel) {
            return Err(format!("bad path {rel:?}"));
        }
        match self {
            Files::Dir(d) => std::fs::read(d.join(rel)).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!("{rel} is missing"),
                _ => format!("{rel}: {e}"),
            }),
            Files::Zip(z) => {
                let mut f = z
                    .by_name(rel)
                    .map_err(|_| format!("{rel} is missing from the ZIP"))?;
                let mut v = Vec::new();
                f.read_to_end(&mut v).map_err(|e| format!("{rel}: {e}"))?;
                Ok(v)
            }
        }
    }

    /// Every file, by its path relative to the top ("/"-separated).
    fn list(&mut self) -> Vec<String> {
        match self {
            Files::Dir(d) => files_under(d),
            Files::Zip(z) => z
                .file_names()
                .filter(|n| !n.ends_with('/'))
                .map(str::to_string)
                .collect(),
        }
    }
}

/// Checks an exported ZIP with nothing but its own contents (see [`verify_export`]).
pub fn verify_zip<R: std::io::Read + Seek>(r: R) -> Result<ExportCheck, String> {
    let z = zip::ZipArchive::new(Box::new(r) as Box<dyn ReadSeek>)
        .map_err(|e| format!("not a ZIP file: {e}"))?;
    verify_files(&mut Files::Zip(z), Expect::Nothing)
}

/// Checks a folder with nothing but its own files (see [`verify_export`]).
pub fn verify_folder(dir: &std::path::Path) -> Result<ExportCheck, String> {
    verify_files(&mut Files::Dir(dir.to_path_buf()), Expect::Nothing)
}

/// Checks an export — a folder or a ZIP, the school's records archive (`tram records export`,
/// the admin's ZIP, or it unpacked) or a lesson-plan export — with nothing but its contents:
///
/// - a records archive: manifest.json's Ed25519 signature by the box's device key
///   ([`RECORDS_SIGNATURE`]; unsigned is INVALID) and that key's fingerprint, held to
///   `expect` when given (a fingerprint or the key, as the district holds it); every file it
///   lists against its SHA-256 and size; files it does not list reported ([`ExportCheck::
///   unlisted`]); every signer key a signature manifest lists, and every signature's key, held
///   to the key list the signed manifest.json carries, and the same signer's keys compared
///   across every signature manifest (one key a person at a time);
/// - then each signature manifest (the lesson plans', each tổ's): content against its BLAKE3,
///   each signature over its statement by a key its signer held when signing.
///
/// A lesson-plan export is not signed by the box: consistent with itself only (with `expect`,
/// INVALID).
pub fn verify_export(path: &std::path::Path, expect: Expect<'_>) -> Result<ExportCheck, String> {
    let mut files = if path.is_dir() {
        Files::Dir(path.to_path_buf())
    } else {
        let f = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
        Files::Zip(
            zip::ZipArchive::new(Box::new(std::io::BufReader::new(f)) as Box<dyn ReadSeek>)
                .map_err(|e| format!("neither a folder nor a ZIP file: {e}"))?,
        )
    };
    verify_files(&mut files, expect)
}

/// A span of time a key was its owner's, for comparing: [from, until), until open = forever.
fn span_overlap(a: &KeySpan, b: &KeySpan) -> bool {
    let ts = |t: &str| t.parse::<jiff::Timestamp>().ok();
    let (Some(af), Some(bf)) = (ts(&a.from), ts(&b.from)) else {
        // An unreadable time cannot be placed: compare as if always in use.
        return true;
    };
    let au = a.until.as_deref().and_then(ts);
    let bu = b.until.as_deref().and_then(ts);
    au.is_none_or(|u| bf < u) && bu.is_none_or(|u| af < u)
}

fn short_key(k: &str) -> String {
    k.chars().take(16).collect()
}

/// Every signer's keys as the signature manifests (`sources`: path, keys) list them: one key a
/// person at a time — the same account with two different keys over one period is a forgery
/// (or a folder mixed from two boxes) — and, when the signed manifest lists the signers' keys
/// (`signed`), each key listed there for that account.
fn compare_keys(
    sources: &[(String, Vec<SignerKeys>)],
    signed: Option<&[SignerKeys]>,
    out: &mut ExportCheck,
) {
    let mut all: std::collections::BTreeMap<&str, Vec<(&str, &str, &KeySpan)>> = Default::default();
    for (path, keys) in sources {
        for k in keys {
            for span in &k.keys {
                all.entry(k.by.as_str())
                    .or_default()
                    .push((path.as_str(), k.name.as_str(), span));
            }
        }
    }
    if let Some(signed) = signed {
        for k in signed {
            for span in &k.keys {
                all.entry(k.by.as_str()).or_default().push((
                    "manifest.json",
                    k.name.as_str(),
                    span,
                ));
            }
        }
    }
    for (by, spans) in &all {
        let mut told = std::collections::HashSet::new();
        for (i, (pa, name, a)) in spans.iter().enumerate() {
            for (pb, _, b) in &spans[i + 1..] {
                if a.public_key != b.public_key
                    && span_overlap(a, b)
                    && told.insert((pa.to_string(), pb.to_string()))
                {
                    out.problems.push(format!(
                        "{name} ({by}) has two different signing keys for the same period: {}… in {pa}, {}… in {pb}",
                        short_key(&a.public_key),
                        short_key(&b.public_key)
                    ));
                }
            }
        }
        if let Some(signed) = signed {
            let listed = signed.iter().find(|k| k.by == *by);
            for (path, name, span) in spans.iter().filter(|(p, _, _)| *p != "manifest.json") {
                let held = listed.is_some_and(|k| {
                    k.keys
                        .iter()
                        .any(|s| s.public_key == span.public_key && s.from == span.from)
                });
                if !held {
                    out.problems.push(format!(
                        "{path}: {name}'s key {}… is not a key the signed manifest.json lists for {by}",
                        short_key(&span.public_key)
                    ));
                }
            }
        }
    }
}

fn verify_files(files: &mut Files<'_>, expect: Expect<'_>) -> Result<ExportCheck, String> {
    use sha2::Digest;
    let top_bytes = files.read("manifest.json")?;
    let top: serde_json::Value =
        serde_json::from_slice(&top_bytes).map_err(|e| format!("manifest.json unreadable: {e}"))?;
    let mut out = ExportCheck::default();
    let mut manifests = Vec::new();
    let mut signed_keys: Option<Vec<SignerKeys>> = None;
    match top["format"].as_str() {
        Some(f @ ("tram.records.v1" | RECORDS_FORMAT)) => {
            out.school_code = top["school_code"].as_str().map(str::to_string);
            let expect = match expect {
                Expect::Nothing => None,
                Expect::Key(k) => Some(k.to_string()),
                Expect::ByCode(lookup) => {
                    match lookup(out.school_code.as_deref().unwrap_or_default()) {
                        Ok(k) => Some(k),
                        Err(e) => {
                            out.problems.push(e);
                            out.fingerprint_matches = Some(false);
                            None
                        }
                    }
                }
            };
            let expect = expect.as_deref();
            if f == RECORDS_FORMAT {
                check_box_signature(files, &top, &top_bytes, expect, &mut out);
                match serde_json::from_value::<Vec<SignerKeys>>(top["signer_keys"].clone()) {
                    Ok(k) => signed_keys = Some(k),
                    Err(e) => out.problems.push(format!(
                        "manifest.json: its signer_keys are unreadable: {e}"
                    )),
                }
            } else {
                out.problems.push(
                    "manifest.json is not signed (an archive of an earlier Trạm): nothing ties this folder to the school's box; export it again".into(),
                );
                if expect.is_some() {
                    out.fingerprint_matches = Some(false);
                }
            }
            let listed = top["files"].as_array().cloned().unwrap_or_default();
            let mut intact = 0;
            let mut known = std::collections::HashSet::from([
                "manifest.json".to_string(),
                RECORDS_SIGNATURE.to_string(),
            ]);
            for f in &listed {
                let path = f["path"].as_str().unwrap_or_default();
                if !plain_path(path) {
                    out.problems
                        .push(format!("manifest.json names a bad path {path:?}"));
                    continue;
                }
                known.insert(path.to_string());
                match files.read(path) {
                    Ok(bytes) => {
                        let sha = hex::encode(sha2::Sha256::digest(&bytes));
                        if f["sha256"].as_str() != Some(sha.as_str())
                            || f["size"].as_u64() != Some(bytes.len() as u64)
                        {
                            out.problems
                                .push(format!("{path}: differs from its SHA-256 in manifest.json"));
                        } else {
                            intact += 1;
                        }
                        if f["kind"].as_str().is_some_and(|k| k.ends_with("chu-ky")) {
                            manifests.push(path.to_string());
                        }
                    }
                    Err(e) => out.problems.push(e),
                }
            }
            out.checked.push(format!(
                "manifest.json: {intact} of {} files match their SHA-256",
                listed.len()
            ));
            out.unlisted = files
                .list()
                .into_iter()
                .filter(|p| !known.contains(p))
                .collect();
        }
        Some("tram.lesson-export/1") => {
            manifests.push("manifest.json".into());
            out.notes.push(
                "a lesson-plan export is not signed by the box: this check shows only that it is consistent with itself".into(),
            );
            if !matches!(expect, Expect::Nothing) {
                out.fingerprint_matches = Some(false);
                out.problems.push(
                    "a lesson-plan export carries no box signature to hold to the expected fingerprint".into(),
                );
            }
        }
        other => {
            return Err(format!(
                "manifest.json is neither a records archive nor a lesson-plan export (format {other:?})"
            ));
        }
    }
    let mut key_lists = Vec::new();
    for m in manifests {
        let base = match m.rfind('/') {
            Some(i) => m[..=i].to_string(),
            None => String::new(),
        };
        let manifest: Manifest = match files
            .read(&m)
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("{m} unreadable: {e}")))
        {
            Ok(x) => x,
            Err(e) => {
                out.problems.push(e);
                continue;
            }
        };
        let mut read = |rel: &str| -> Result<Vec<u8>, String> {
            if !plain_path(rel) {
                return Err(format!("bad path {rel:?}"));
            }
            files.read(&format!("{base}{rel}"))
        };
        let n = verify_manifest(&manifest, &mut read, &mut out);
        out.checked.push(format!(
            "{m}: {} records, {n} signatures valid",
            manifest.plans.len()
        ));
        // Every signature's key against the list the box signed, not only the list beside it.
        if let Some(signed) = &signed_keys {
            for p in &manifest.plans {
                for s in &p.signatures {
                    if let Some(e) = key_problem(signed, &s.by, &s.name, &s.public_key, &s.at)
                        .or_else(|| {
                            (signed.is_empty()).then(|| {
                                format!(
                                    "{}'s keys are not listed in the signed manifest.json",
                                    s.name
                                )
                            })
                        })
                    {
                        out.problems.push(format!(
                            "{m}: {} v{}: signature of {} ({}): {e} (signed manifest.json)",
                            p.plan,
                            p.version,
                            s.name,
                            s.action.as_str()
                        ));
                    }
                }
            }
        }
        key_lists.push((m, manifest.keys));
    }
    compare_keys(&key_lists, signed_keys.as_deref(), &mut out);
    if out.not_copied > 0 {
        out.notes.push(format!(
            "{} attached file(s) are named by their BLAKE3 only (not copied into the archive); the signatures cover those hashes",
            out.not_copied
        ));
    }
    Ok(out)
}

/// A records archive's manifest.sig: the box key's signature over manifest.json, the key the
/// manifest names, and (with `expect`) the key the district holds.
fn check_box_signature(
    files: &mut Files<'_>,
    top: &serde_json::Value,
    top_bytes: &[u8],
    expect: Option<&str>,
    out: &mut ExportCheck,
) {
    let sig = match files.read(RECORDS_SIGNATURE).and_then(|b| {
        serde_json::from_slice::<RecordsSignature>(&b)
            .map_err(|e| format!("{RECORDS_SIGNATURE} unreadable: {e}"))
    }) {
        Ok(s) => s,
        Err(e) => {
            out.problems.push(format!(
                "manifest.json carries no readable signature of the box ({e}): nothing ties this folder to the school"
            ));
            if expect.is_some() {
                out.fingerprint_matches = Some(false);
            }
            return;
        }
    };
    let key = hex::decode(&sig.public_key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok());
    let signature = hex::decode(&sig.signature)
        .ok()
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .map(|s| ed25519_dalek::Signature::from_bytes(&s));
    let fingerprint = crate::pki::key_fingerprint_hex(&sig.public_key).unwrap_or_default();
    let verified = match (key, signature) {
        (Some(k), Some(s)) => k
            .verify_strict(&records_signed_message(top_bytes), &s)
            .is_ok(),
        _ => false,
    };
    if !verified {
        out.problems.push(format!(
            "{RECORDS_SIGNATURE}: the box's signature over manifest.json does not verify (the manifest was changed after the box wrote it, or the signature is not the box's)"
        ));
    } else if top["box"]["public_key"].as_str() != Some(sig.public_key.as_str()) {
        out.problems
            .push("manifest.json names another box key than the one that signed it".into());
    } else {
        out.checked.push(format!(
            "manifest.json: signed by the box key with fingerprint {} (Ed25519)",
            crate::pki::fingerprint_groups(&fingerprint)
        ));
        out.box_fingerprint = Some(fingerprint.clone());
    }
    if let Some(e) = expect {
        let same_key = expected_key_matches(e, &sig.public_key);
        let ok = verified && same_key;
        out.fingerprint_matches = Some(ok);
        // The right key with a signature that does not verify is reported above, once; "X, not
        // the expected X" would contradict itself (review r16 #9).
        if !same_key {
            out.problems.push(format!(
                "the archive was signed by the box key with fingerprint {}, not the expected {}: it is not the school's archive as the district knows it",
                crate::pki::fingerprint_groups(&fingerprint),
                crate::pki::fingerprint_groups(&crate::pki::normalise_fingerprint(e))
            ));
        }
    }
}

#[derive(Deserialize)]
struct ContentFiles {
    /// A lesson plan's or a tổ's plan's id; a tổ's minutes name themselves `minutes`.
    #[serde(alias = "minutes")]
    plan: String,
    version: u32,
    /// A lesson plan's files; a tổ's records have none.
    #[serde(default)]
    files: Vec<ContentFile>,
}

#[derive(Deserialize)]
struct ContentFile {
    name: String,
    blake3: String,
}

/// Checks one signature manifest (`tram.lesson-export/1`) with `read`, which gives the bytes
/// of a path relative to the manifest: each content.json against its digest, each file copied
/// against the hash content.json names, each signature over its statement and, when the
/// manifest lists the signers' keys, by a key its signer held when signing.
pub fn verify_manifest(
    manifest: &Manifest,
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    out: &mut ExportCheck,
) -> usize {
    let valid_before = out.valid;
    out.plans += manifest.plans.len();
    let mut not_copied = 0;
    for p in &manifest.plans {
        let who = format!("{} v{} “{}”", p.plan, p.version, p.title);
        let content = match read(&p.content) {
            Ok(c) => c,
            Err(e) => {
                out.problems.push(format!("{who}: {e}"));
                continue;
            }
        };
        let digest = blake3::hash(&content).to_hex().to_string();
        let mut ok = true;
        if p.blake3.as_deref().is_some_and(|d| d != digest) {
            out.problems
                .push(format!("{who}: content.json does not match its BLAKE3"));
            ok = false;
        }
        match serde_json::from_slice::<ContentFiles>(&content) {
            Ok(c) if c.plan == p.plan && c.version == p.version => {
                for (named, listed) in c.files.iter().zip(&p.files) {
                    if listed.path.is_empty() {
                        // The archive names attachments by their BLAKE3 without copying them:
                        // the signature covers the hash, the file stays on the box.
                        not_copied += 1;
                        continue;
                    }
                    let actual = read(&listed.path).map(|b| blake3::hash(&b).to_hex().to_string());
                    if actual.as_deref() != Ok(named.blake3.as_str()) {
                        out.problems.push(format!(
                            "{who}: file “{}” has changed or is missing",
                            named.name
                        ));
                        ok = false;
                    }
                }
                if c.files.len() != p.files.len() {
                    out.problems
                        .push(format!("{who}: files missing from the export"));
                    ok = false;
                }
            }
            _ => {
                out.problems
                    .push(format!("{who}: content.json does not describe this record"));
                ok = false;
            }
        }
        for s in &p.signatures {
            let sig = sign::Signature {
                action: s.action,
                by: s.by.clone(),
                name: s.name.clone(),
                at: s.at.clone(),
                digest: p.blake3.clone().unwrap_or_default(),
                public_key: s.public_key.clone(),
                signature: s.signature.clone(),
            };
            let expected = sign::statement(s.action, &p.plan, p.version, &s.by, &s.at, &sig.digest);
            let verdict = if expected != s.statement {
                Err("statement does not match the record".to_string())
            } else {
                sign::check(&sig, &p.plan, p.version, &digest).and_then(|()| {
                    match key_problem(&manifest.keys, &s.by, &s.name, &s.public_key, &s.at) {
                        Some(e) => Err(e),
                        None => Ok(()),
                    }
                })
            };
            match verdict {
                Ok(()) if ok => out.valid += 1,
                Ok(()) => {}
                Err(e) => out.problems.push(format!(
                    "{who}: signature of {} ({}): {e}",
                    s.name,
                    s.action.as_str()
                )),
            }
        }
    }
    out.not_copied += not_copied;
    out.valid - valid_before
}

/// The approved lesson plans of a school year for the school's archive (`app::records`): per
/// department (tổ) and month, the PDF of the approved versions with their signatures, each
/// plan's signed content (content.json), and one signature manifest per department in the
/// export ZIP's format with the signers' keys as of signing ([`signer_keys`]) — attached files
/// are named by their BLAKE3, not copied (a year of videos is not paper); then the month
/// approval PDFs. A plan counts in the month its approved version is taught.
pub fn archive(
    store: &crate::store::Store,
    year: &str,
    resolve: &super::LinkResolver,
) -> Result<Vec<crate::school::archive::RecordFile>, String> {
    use crate::school::archive::RecordFile;
    let (from, to) = year_bounds(year).map_err(|e| e.to_string())?;
    let rx = store.read().map_err(|e| e.to_string())?;
    let mut names = Names::load(&rx).map_err(|e| e.to_string())?;
    // department id ("" for none) → month → plans, in the order `select` prints them.
    let mut by: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, Vec<(Plan, Version)>>,
    > = Default::default();
    let mut approved = Vec::new();
    rx.scan_each(&PLANS, "", &mut |_, plan: Plan| {
        if let Some(n) = plan.approved_version {
            approved.push((plan, n));
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    // Every approved version, not only the newest (review r20 #7): an amendment the Phụ lục
    // III forced must not remove the plan the principal approved before the lesson. An earlier
    // one says which version replaced it and when (`Names::replaced`).
    for (plan, n) in approved {
        let mut kept: Vec<Version> = Vec::new();
        for k in 1..=n {
            if let Some(v) = rx
                .get(&super::VERSIONS, &version_key(&plan.id, k))
                .map_err(|e| e.to_string())?
                && v.state == super::State::Approved
            {
                kept.push(v);
            }
        }
        for (i, v) in kept.iter().enumerate() {
            if let Some(next) = kept.get(i + 1) {
                names
                    .replaced
                    .insert(version_key(&plan.id, v.number), replaced_note(next));
            }
        }
        for v in kept {
            if v.teach_on < from || v.teach_on > to {
                continue;
            }
            let month = format!("{:04}-{:02}", v.teach_on.year(), v.teach_on.month());
            by.entry(plan.department.clone().unwrap_or_default())
                .or_default()
                .entry(month)
                .or_default()
                .push((plan.clone(), v));
        }
    }
    for months in by.values() {
        for plans in months.values() {
            names
                .resolve_links(&rx, resolve, plans)
                .map_err(|e| e.to_string())?;
        }
    }
    let now = jiff::Timestamp::now().to_string();
    let mut out = Vec::new();
    for (dept, months) in by {
        let dept_name = names.department(Some(&dept));
        let folder = if dept_name.is_empty() {
            "khong-thuoc-to".to_string()
        } else {
            crate::school::slug(&dept_name)
        };
        let department = (!dept_name.is_empty()).then(|| dept_name.clone());
        let mut manifest = Manifest {
            format: "tram.lesson-export/1".into(),
            school: names.school.clone(),
            scope: format!("năm học {year} — {dept_name}"),
            created_at: now.clone(),
            plans: vec![],
            keys: vec![],
        };
        let mut signed: Vec<sign::Signature> = Vec::new();
        for (month, mut plans) in months {
            plans.sort_by(|a, b| {
                (&a.0.teacher_name, a.1.teach_on, &a.0.id, a.1.number).cmp(&(
                    &b.0.teacher_name,
                    b.1.teach_on,
                    &b.0.id,
                    b.1.number,
                ))
            });
            let title = format!(
                "KẾ HOẠCH BÀI DẠY — THÁNG {}",
                super::month_label(&month).to_uppercase()
            );
            out.push(RecordFile {
                path: format!("ke-hoach-bai-day/{folder}/ke-hoach-bai-day-{month}.pdf"),
                kind: "ke-hoach-bai-day",
                title: "KẾ HOẠCH BÀI DẠY".into(),
                class: None,
                department: department.clone(),
                signed: false,
                current: None,
                bytes: pdf(&names, &title, &plans).map_err(|e| e.to_string())?,
            });
            for (plan, v) in &plans {
                let hashes: Vec<String> = v.files.iter().map(|f| f.blob.clone()).collect();
                let dir = format!("plans/{}-v{}", plan.id, v.number);
                let files = v
                    .files
                    .iter()
                    .map(|f| ManifestFile {
                        name: f.name.clone(),
                        path: String::new(),
                        size: f.size,
                        blake3: f.blob.clone(),
                    })
                    .collect();
                manifest
                    .plans
                    .push(manifest_plan(plan, v, format!("{dir}/content.json"), files));
                signed.extend(v.signatures.iter().cloned());
                out.push(RecordFile {
                    path: format!("ke-hoach-bai-day/{folder}/{dir}/content.json"),
                    kind: "ke-hoach-bai-day-noi-dung-ky",
                    title: v.title.clone(),
                    class: None,
                    department: department.clone(),
                    signed: !v.signatures.is_empty(),
                    current: Some(plan.approved_version == Some(v.number)),
                    bytes: super::signed_content(v, &hashes),
                });
            }
        }
        manifest.keys = signer_keys(&rx, &signed).map_err(|e| e.to_string())?;
        out.push(RecordFile {
            path: format!("ke-hoach-bai-day/{folder}/manifest.json"),
            kind: "ke-hoach-bai-day-chu-ky",
            title: "tram.lesson-export/1".into(),
            class: None,
            department,
            signed: true,
            current: None,
            bytes: serde_json::to_vec_pretty(&manifest).expect("serialisable"),
        });
    }
    // The principal's month approvals ("Ký duyệt cả tháng"), each version as stored: PAdES
    // signed (and time-stamped) when she held a signing certificate — the school signing CA's
    // certificate in the archive's chung-thu/ folder is what a reader checks them against.
    for (_, a) in rx.scan(&APPROVALS, "").map_err(|e| e.to_string())? {
        let first = format!("{}-01", a.month).parse::<jiff::civil::Date>();
        if !first.is_ok_and(|d| from <= d && d <= to) {
            continue;
        }
        out.push(RecordFile {
            path: format!(
                "ke-hoach-bai-day/phe-duyet-thang/phe-duyet-{}-v{}.pdf",
                a.month, a.version
            ),
            kind: "ke-hoach-bai-day-phe-duyet",
            title: "PHÊ DUYỆT KẾ HOẠCH BÀI DẠY".into(),
            class: None,
            department: None,
            signed: a.signed_by.is_some(),
            current: None,
            bytes: a.pdf_bytes().map_err(|e| e.to_string())?,
        });
    }
    Ok(out)
}

/// Every file under `dir`, by its "/"-separated path relative to it, sorted (an unreadable
/// folder is skipped). The folder check and the records export's re-export both list with it.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push((e.path(), r)),
                Ok(_) => out.push(r),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// What a check of an export comes to, and `tram lessons verify --export`'s exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every file and signature holds and, for a records archive, its box key is the one
    /// expected (exit 0).
    Valid,
    /// A records archive consistent with itself whose box key was not compared with the
    /// school's (no --expect-fingerprint): not proof that the school wrote it (exit 2).
    NotAnchored,
    /// Something does not hold (exit 3).
    Invalid,
}

impl Verdict {
    /// The exit code the CLI ends with: 0 valid and anchored, 2 consistent but not compared
    /// with the school's key, 3 invalid (1 is a usage error, before any check).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::NotAnchored => 2,
            Verdict::Invalid => 3,
        }
    }
}

/// `tram lessons verify --export`'s and `tram district verify-export`'s report of a check
/// (English): what was checked, notes, files not in the signed manifest, each problem, the box
/// key's fingerprint with what it proves, the count; and the verdict. A records archive whose
/// key was not compared with the school's never reads clean (review r16 #4): its summary says
/// "consistent with itself only" and its last line "NOT VERIFIED against the school's key".
pub fn export_report(c: &ExportCheck) -> (Verdict, String) {
    let mut out = String::new();
    for line in &c.checked {
        out += &format!("checked {line}\n");
    }
    for n in &c.notes {
        out += &format!("note: {n}\n");
    }
    for u in &c.unlisted {
        out += &format!(
            "INVALID UNLISTED {u}: in the folder but not in the signed manifest.json — not part of the archive the box wrote (a file added later, such as a forged newer version, looks like this): remove it or find out where it came from\n"
        );
    }
    for p in &c.problems {
        out += &format!("INVALID {p}\n");
    }
    if let Some(fp) = &c.box_fingerprint {
        let fp = crate::pki::fingerprint_groups(fp);
        out += &match c.fingerprint_matches {
            Some(true) => format!(
                "box key fingerprint: {fp} (the expected one: the folder was written by the box the district knows for this school)\n"
            ),
            Some(false) => format!("box key fingerprint: {fp} (NOT the expected one)\n"),
            None => format!(
                "box key fingerprint: {fp}\n  This proves the folder was written by the box with this fingerprint, and by the school only if it is the fingerprint the district holds for the school (`tram district schools` on the hub, the box's device page, /admin/device): check it with --expect-fingerprint, or run `tram district verify-export` on the hub.\n"
            ),
        };
    }
    let invalid = c.problems.len() + c.unlisted.len();
    out += &format!("{} plans, {} valid, {invalid} invalid", c.plans, c.valid);
    if invalid > 0 {
        out += "\n";
        return (Verdict::Invalid, out);
    }
    if c.box_fingerprint.is_some() && c.fingerprint_matches.is_none() {
        out += " — consistent with itself only\n";
        out += "NOT VERIFIED against the school's key: pass --expect-fingerprint <the fingerprint the district holds for the school> (`tram district schools` on the hub, or the box's /admin/device), or run `tram district verify-export` on the hub\n";
        return (Verdict::NotAnchored, out);
    }
    out += "\n";
    (Verdict::Valid, out)
}
