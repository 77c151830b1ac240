//! Who sees which plan, search over the plans a person may see, the review queue and a plan's
//! versions.

use super::*;

/// The plan as `p` may see it, or `None` when `p` may not read it. Those who see work in
/// progress get the current summary; everyone else the summary of the newest approved version,
/// so an amendment's draft (its title, state, comment, dates) stays between its teacher and
/// the reviewers until it is approved. Every list, page and export goes through this.
pub fn seen_by(r: &impl Read, p: &Principal, plan: Plan) -> Result<Option<Plan>, StoreError> {
    if sees_work(p, &plan) {
        return Ok(Some(plan));
    }
    let Some(n) = plan.approved_version else {
        return Ok(None);
    };
    if n == plan.version && plan.state == State::Approved {
        return Ok(Some(plan));
    }
    let Some(v) = r.get(&VERSIONS, &version_key(&plan.id, n))? else {
        return Ok(None);
    };
    Ok(Some(Plan {
        title: v.title,
        subject: v.subject,
        grade: v.grade,
        teach_on: v.teach_on,
        state: State::Approved,
        version: n,
        updated_at: v.updated_at,
        submitted_at: None,
        comment: None,
        ..plan
    }))
}

/// Whether `p` sees drafts and pending versions of the plan (not only its approved one): its
/// teacher, the department's head, BGH and the administrator.
pub fn sees_work(p: &Principal, plan: &Plan) -> bool {
    plan.teacher == p.id()
        || p.is_bgh()
        || p.has(Role::Admin)
        || crate::auth::may_see(
            p,
            Action::ReviewLessonPlans {
                department: plan.department.as_deref().unwrap_or(""),
            },
        )
}

#[derive(Debug, Default, Deserialize)]
pub struct Query {
    #[serde(default)]
    pub q: String,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "crate::library::empty_none_num")]
    pub grade: Option<u8>,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub teacher: Option<String>,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub month: Option<String>,
    /// Only plans waiting for this person (review for a department head, approval for BGH).
    #[serde(default)]
    pub mine: bool,
    /// At most this many plans (newest first); the API's default is [`Query::DEFAULT_LIMIT`].
    #[serde(default, deserialize_with = "crate::library::empty_none_num")]
    pub limit: Option<usize>,
}

impl Query {
    pub const DEFAULT_LIMIT: usize = 500;
    pub const MAX_LIMIT: usize = 5000;
    /// The limit asked for, within 1..=MAX_LIMIT.
    pub fn limit(&self) -> usize {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}

/// Why a list's filters name nothing the school has (review r20 #9): a subject, grade, state,
/// teacher or month that matches no plan by construction is refused with the reason — the
/// page and the API say it rather than list nothing (or everything) as if it were a filter.
pub fn check_filters(rx: &Rx, q: &Query) -> Result<Option<String>, StoreError> {
    if let Some(s) = &q.subject
        && rx.get(&crate::school::SUBJECTS, s)?.is_none()
    {
        return Ok(Some(format!(
            "Không có môn học mã “{s}” ở trường: chọn môn trong danh sách."
        )));
    }
    if let Some(g) = q.grade {
        let grades = crate::school::school_info(rx)?
            .map(|i| i.grades())
            .unwrap_or_else(|| (1..=12).collect());
        if !grades.contains(&g) {
            let list: Vec<String> = grades.iter().map(u8::to_string).collect();
            return Ok(Some(format!(
                "Trường không có khối {g}: chọn một trong các khối {}.",
                list.join(", ")
            )));
        }
    }
    if let Some(st) = &q.state
        && State::parse(st).is_none()
    {
        let list: Vec<String> = State::ALL
            .iter()
            .map(|x| format!("“{}” ({})", x.as_str(), x.label()))
            .collect();
        return Ok(Some(format!(
            "Không có trạng thái “{st}”; chọn: {}.",
            list.join(", ")
        )));
    }
    if let Some(t) = &q.teacher
        && rx.get(&crate::auth::ACCOUNTS, t)?.is_none()
    {
        return Ok(Some(format!(
            "Không có giáo viên mã “{t}” (teacher=… là mã tài khoản của giáo viên)."
        )));
    }
    if let Some(m) = &q.month
        && let Err(e) = super::parse_month(m)
    {
        return Ok(Some(e.to_string()));
    }
    Ok(None)
}

/// Plans `p` may see that match: words of the title (or the subject's name) without diacritics
/// or case, the last word a prefix; subject, grade, state, teacher, month. Newest first, at most
/// `limit`: without a month the months are read newest first and the reading stops once `limit`
/// plans are found and their month is complete, so the default list reads the latest weeks and
/// not the whole year.
pub fn search(rx: &Rx, p: &Principal, q: &Query, limit: usize) -> Result<Vec<Plan>, LessonError> {
    let subjects: HashMap<String, String> = crate::school::list(rx, &crate::school::SUBJECTS)?
        .into_iter()
        .map(|s| (s.id, fold(&s.name)))
        .collect();
    let words: Vec<String> = fold(&q.q).split_whitespace().map(String::from).collect();
    let state = q.state.as_deref().and_then(State::parse);
    let matches = |plan: &Plan| {
        if q.subject.as_ref().is_some_and(|s| *s != plan.subject)
            || q.grade.is_some_and(|g| g != plan.grade)
            || state.is_some_and(|s| s != plan.state)
            || q.teacher.as_ref().is_some_and(|t| *t != plan.teacher)
        {
            return false;
        }
        if !words.is_empty() {
            let hay = format!(
                "{} {} {}",
                fold(&plan.title),
                subjects
                    .get(&plan.subject)
                    .map(String::as_str)
                    .unwrap_or(""),
                fold(&plan.teacher_name)
            );
            let hay: Vec<&str> = hay.split_whitespace().collect();
            let last = words.len() - 1;
            let all = words.iter().enumerate().all(|(i, w)| {
                hay.iter().any(|h| {
                    if i == last {
                        h.starts_with(w.as_str())
                    } else {
                        h == w
                    }
                })
            });
            return all;
        }
        true
    };
    let mut out = Vec::new();
    match &q.month {
        Some(m) => {
            parse_month(m)?;
            for (_, plan) in rx.scan(&MONTHS, &format!("{m}/"))? {
                if let Some(plan) = seen_by(rx, p, plan)?
                    && matches(&plan)
                {
                    out.push(plan);
                }
            }
        }
        None => {
            let mut month = String::new();
            rx.each_rev_while(&MONTHS, &mut |k, plan: Plan| {
                let m = k.split('/').next().unwrap_or_default();
                if m != month {
                    if out.len() >= limit {
                        return Ok(false);
                    }
                    month = m.to_string();
                }
                if let Some(plan) = seen_by(rx, p, plan)?
                    && matches(&plan)
                {
                    out.push(plan);
                }
                Ok(true)
            })?
        }
    }
    out.sort_by(|a, b| {
        b.teach_on
            .cmp(&a.teach_on)
            .then_with(|| b.updated_at.cmp(&a.updated_at))
    });
    out.truncate(limit);
    Ok(out)
}

/// Plans waiting for `p`: submitted plans of the department for its head, reviewed ones for
/// BGH — and, for BGH, submitted plans nobody else can review (no department, or written by the
/// department's only head).
pub fn waiting_for(rx: &Rx, p: &Principal) -> Result<Vec<Plan>, LessonError> {
    let mut heads: HashMap<String, Vec<String>> = HashMap::new();
    if p.is_bgh() {
        for a in crate::auth::list_accounts(rx)? {
            if a.has(Role::DeptHead)
                && !a.disabled
                && let Some(d) = a.department
            {
                heads.entry(d).or_default().push(a.id);
            }
        }
    }
    // Only the queue this person can act on is read: everything submitted and reviewed for
    // BGH, their department's submitted plans for a head.
    let prefixes: Vec<String> = if p.is_bgh() {
        vec!["submitted/".into(), "reviewed/".into()]
    } else {
        match p.account.department.as_deref() {
            Some(d) if permits(p, Action::ReviewLessonPlans { department: d }) => {
                vec![format!("submitted/{d}/")]
            }
            _ => vec![],
        }
    };
    let mut out = Vec::new();
    for prefix in &prefixes {
        rx.scan_each(&WAITING, prefix, &mut |_, plan: Plan| {
            if plan.teacher == p.id() {
                return Ok(());
            }
            let dept = plan.department.as_deref().unwrap_or("");
            let mine = match plan.state {
                State::Submitted if p.is_bgh() => !heads
                    .get(dept)
                    .is_some_and(|h| h.iter().any(|id| *id != plan.teacher)),
                State::Submitted => permits(p, Action::ReviewLessonPlans { department: dept }),
                State::Reviewed => permits(p, Action::ApproveLessonPlans),
                _ => false,
            };
            if mine {
                out.push(plan);
            }
            Ok(())
        })?;
    }
    out.sort_by(|a, b| a.teach_on.cmp(&b.teach_on).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Every version of a plan, oldest first.
pub fn versions(rx: &impl Read, id: &str) -> Result<Vec<Version>, StoreError> {
    Ok(rx
        .scan(&VERSIONS, &format!("{id}/"))?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Every plan's summary (its current version's head), for the counts other capabilities keep —
/// the department records' dashboard.
pub fn every_plan(r: &impl Read) -> Result<Vec<Plan>, StoreError> {
    Ok(r.scan(&PLANS, "")?.into_iter().map(|(_, p)| p).collect())
}
