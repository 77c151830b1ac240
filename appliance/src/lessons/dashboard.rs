//! The month's dashboard (submissions, reviews and approvals per department and teacher, who is
//! behind the cadence), what each reader may see of it, and `Live`, which computes it once per
//! change and lets pages long-poll for the next.

use super::*;

#[derive(Debug, Clone, Serialize)]
pub struct TeacherRow {
    pub id: String,
    pub name: String,
    pub counts: [u32; 5],
    /// Periods (weeks or the month) already due with fewer plans handed in than the cadence asks.
    pub missing: Vec<String>,
    /// Drafts whose teaching day has passed.
    pub late_drafts: u32,
}

impl TeacherRow {
    pub fn overdue(&self) -> bool {
        !self.missing.is_empty() || self.late_drafts > 0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeptRow {
    pub id: String,
    pub name: String,
    pub counts: [u32; 5],
    /// Its teachers' plans by [`super::MONTH_COUNT_RULE`] (a tổ trưởng's dashboard's summary).
    pub summary: MonthSummary,
    pub teachers: Vec<TeacherRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecentRow {
    pub plan: String,
    pub teacher_id: String,
    pub title: String,
    pub teacher: String,
    pub state: &'static str,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub month: String,
    pub today: Date,
    pub cadence: String,
    pub departments: Vec<DeptRow>,
    /// Plans per state of their newest version — the workflow: what waits for whom —, the
    /// order of [`State::ALL`]; an approved plan being amended is under its new version's state.
    pub totals: [u32; 5],
    /// The month as the hub's lesson-plan report counts it ([`super::MONTH_COUNT_RULE`]).
    pub summary: MonthSummary,
    pub overdue_teachers: u32,
    pub recent: Vec<RecentRow>,
    pub generation: u64,
}

/// A month's plans, handed in and approved by [`super::MONTH_COUNT_RULE`] — the hub's
/// "Số kế hoạch", "Đã nộp", "Đã phê duyệt" — and, of the approved, those being amended (a newer
/// version drafted, handed in or returned beside the approved one in force).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MonthSummary {
    pub plans: u32,
    pub handed_in: u32,
    pub approved: u32,
    pub amending: u32,
}

impl MonthSummary {
    fn of<'a>(plans: impl Iterator<Item = &'a Plan>) -> MonthSummary {
        let mut m = MonthSummary::default();
        for p in plans {
            let (handed, approved) = super::month_counts(p.in_force());
            m.plans += 1;
            m.handed_in += handed as u32;
            m.approved += approved as u32;
            m.amending += (p.approved_version.is_some() && p.state != State::Approved) as u32;
        }
        m
    }
    fn add(&mut self, o: &MonthSummary) {
        self.plans += o.plans;
        self.handed_in += o.handed_in;
        self.approved += o.approved;
        self.amending += o.amending;
    }
}

pub(super) fn state_index(s: State) -> usize {
    State::ALL.iter().position(|x| *x == s).expect("listed")
}

/// The periods of `month` that are due by `today`, each as (label, first day, last day).
fn due_periods(cfg: &LessonConfig, first: Date, today: Date) -> Vec<(String, Date, Date)> {
    let last = first.last_of_month();
    let grace = jiff::Span::new().days(i64::from(cfg.grace_days));
    let due = |end: Date| end.checked_add(grace).is_ok_and(|d| today > d);
    match cfg.cadence {
        Cadence::Monthly => {
            if due(last) {
                vec![(
                    format!("tháng {:02}/{}", first.month(), first.year()),
                    first,
                    last,
                )]
            } else {
                vec![]
            }
        }
        Cadence::Weekly => {
            let mut out = Vec::new();
            let offset = i64::from(first.weekday().to_monday_zero_offset());
            let mut monday = if offset == 0 {
                first
            } else {
                first
                    .checked_add(jiff::Span::new().days(7 - offset))
                    .unwrap_or(first)
            };
            while monday <= last {
                let sunday = monday
                    .checked_add(jiff::Span::new().days(6))
                    .unwrap_or(monday);
                if due(sunday) {
                    out.push((
                        format!(
                            "tuần {:02}/{:02}–{:02}/{:02}",
                            monday.day(),
                            monday.month(),
                            sunday.day(),
                            sunday.month()
                        ),
                        monday,
                        sunday,
                    ));
                }
                monday = monday
                    .checked_add(jiff::Span::new().days(7))
                    .unwrap_or(last.tomorrow().unwrap_or(last));
            }
            out
        }
    }
}

/// Submissions, reviews and approvals per department and teacher for a month, with the
/// teachers behind the cadence.
pub fn dashboard(rx: &Rx, month: &str, today: Date) -> Result<Dashboard, LessonError> {
    let first = parse_month(month)?;
    let cfg = config(rx)?;
    let periods = due_periods(&cfg, first, today);
    let departments = crate::school::list(rx, &crate::school::DEPARTMENTS)?;
    let accounts = crate::auth::list_accounts(rx)?;
    let heads = super::dept_heads(rx)?;
    let plans: Vec<Plan> = rx
        .scan(&MONTHS, &format!("{month}/"))?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut by_teacher: HashMap<&str, Vec<&Plan>> = HashMap::new();
    for p in &plans {
        by_teacher.entry(p.teacher.as_str()).or_default().push(p);
    }
    let mut rows: BTreeMap<String, DeptRow> = departments
        .iter()
        .map(|d| {
            (
                d.id.clone(),
                DeptRow {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    counts: [0; 5],
                    summary: MonthSummary::default(),
                    teachers: vec![],
                },
            )
        })
        .collect();
    let none = "";
    let mut totals = [0u32; 5];
    let mut overdue_teachers = 0;
    for a in &accounts {
        // A disabled account's plans still count (a teacher who left taught them; the hub
        // counts every relayed plan), but no cadence is asked of it.
        let writes = !a.disabled && (a.has(Role::Teacher) || a.has(Role::DeptHead));
        let mine = by_teacher.get(a.id.as_str());
        if !writes && mine.is_none() {
            continue;
        }
        let mine = mine.map(Vec::as_slice).unwrap_or(&[]);
        let mut counts = [0u32; 5];
        let mut late_drafts = 0;
        for p in mine {
            counts[state_index(p.state)] += 1;
            if p.late(today) {
                late_drafts += 1;
            }
        }
        let missing = if writes {
            periods
                .iter()
                .filter_map(|(label, from, to)| {
                    let n = mine
                        .iter()
                        .filter(|p| p.handed_in() && p.teach_on >= *from && p.teach_on <= *to)
                        .count() as u32;
                    (n < cfg.per_period).then(|| format!("{label}: {n}/{}", cfg.per_period))
                })
                .collect()
        } else {
            vec![]
        };
        let row = TeacherRow {
            id: a.id.clone(),
            name: a.full_name.clone(),
            counts,
            missing,
            late_drafts,
        };
        if row.overdue() {
            overdue_teachers += 1;
        }
        let dept = a.department.as_deref().unwrap_or(none);
        let d = rows.entry(dept.to_string()).or_insert_with(|| DeptRow {
            id: dept.to_string(),
            name: "Chưa thuộc tổ".into(),
            counts: [0; 5],
            summary: MonthSummary::default(),
            teachers: vec![],
        });
        d.summary.add(&MonthSummary::of(mine.iter().copied()));
        for (i, c) in counts.iter().enumerate() {
            d.counts[i] += c;
            totals[i] += c;
        }
        d.teachers.push(row);
    }
    let mut departments: Vec<DeptRow> = rows
        .into_values()
        .filter(|d| !d.teachers.is_empty())
        .collect();
    for d in &mut departments {
        d.teachers
            .sort_by(|a, b| crate::school::vietnamese_name_order(&a.name, &b.name));
    }
    let mut recent: Vec<&Plan> = plans.iter().filter(|p| p.state != State::Draft).collect();
    recent.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    let recent = recent
        .into_iter()
        .take(15)
        .map(|p| RecentRow {
            plan: p.id.clone(),
            teacher_id: p.teacher.clone(),
            title: p.title.clone(),
            teacher: p.teacher_name.clone(),
            state: p.state_words(&heads),
            at: p.updated_at.clone(),
        })
        .collect();
    let cadence = match cfg.cadence {
        Cadence::Weekly => format!("{} kế hoạch mỗi tuần", cfg.per_period),
        Cadence::Monthly => format!("{} kế hoạch mỗi tháng", cfg.per_period),
    };
    // Every plan of the month, as the hub counts the relayed ones: the summary is not the
    // teachers' rows added up (a plan whose account is gone has no row).
    let summary = MonthSummary::of(plans.iter());
    Ok(Dashboard {
        month: month.to_string(),
        today,
        cadence,
        departments,
        totals,
        summary,
        overdue_teachers,
        recent,
        generation: 0,
    })
}

/// Live updates: a generation number bumped after every lesson-plan change (pages long-poll
/// it), and the dashboard computed once per generation.
pub struct Live {
    generation: tokio::sync::watch::Sender<u64>,
    closing: std::sync::atomic::AtomicBool,
    cache: Mutex<Vec<Cached>>,
}

/// A computed dashboard: month, day, generation, when, the result.
struct Cached(String, Date, u64, std::time::Instant, Arc<Dashboard>);

impl Default for Live {
    fn default() -> Self {
        Live {
            generation: tokio::sync::watch::Sender::new(0),
            closing: std::sync::atomic::AtomicBool::new(false),
            cache: Mutex::new(Vec::new()),
        }
    }
}

impl Live {
    pub fn changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
    /// The server is stopping: waiting pages are answered now, and new waits return at once.
    pub fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed();
    }
    pub fn closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }
    /// The month's dashboard, recomputed when a plan changed, the day turned or it is older
    /// than 30 s (accounts and the cadence change without bumping the generation).
    pub fn dashboard(
        &self,
        rx: &Rx,
        month: &str,
        today: Date,
    ) -> Result<Arc<Dashboard>, LessonError> {
        let g = self.generation();
        {
            let cache = self.cache.lock().expect("not poisoned");
            if let Some(hit) = cache.iter().find(|Cached(m, d, gen_, at, _)| {
                m == month && *d == today && *gen_ == g && at.elapsed().as_secs() < 30
            }) {
                return Ok(hit.4.clone());
            }
        }
        let mut d = dashboard(rx, month, today)?;
        d.generation = g;
        let d = Arc::new(d);
        let mut cache = self.cache.lock().expect("not poisoned");
        cache.retain(|Cached(m, _, gen_, _, _)| m != month && *gen_ == g);
        cache.truncate(7);
        cache.push(Cached(
            month.to_string(),
            today,
            g,
            std::time::Instant::now(),
            d.clone(),
        ));
        Ok(d)
    }
}

/// The dashboard as `p` may see it: everything for BGH, their department for a head.
pub fn dashboard_for(p: &Principal, d: &Dashboard) -> Option<Dashboard> {
    if p.is_bgh() {
        return Some(d.clone());
    }
    let dept = p.account.department.as_deref()?;
    if !permits(p, Action::ReviewLessonPlans { department: dept }) {
        return None;
    }
    let mut mine = d.clone();
    mine.departments.retain(|r| r.id == dept);
    mine.totals = mine.departments.first().map(|r| r.counts).unwrap_or([0; 5]);
    mine.summary = mine
        .departments
        .first()
        .map(|r| r.summary)
        .unwrap_or_default();
    mine.overdue_teachers = mine
        .departments
        .iter()
        .flat_map(|r| &r.teachers)
        .filter(|t| t.overdue())
        .count() as u32;
    let ids: Vec<String> = mine
        .departments
        .iter()
        .flat_map(|r| r.teachers.iter().map(|t| t.id.clone()))
        .collect();
    mine.recent.retain(|r| ids.contains(&r.teacher_id));
    Some(mine)
}
