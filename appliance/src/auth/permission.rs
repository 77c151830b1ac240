//! The one permission function. Every route calls [`permits`]; nothing else decides access.

use super::{Account, Role};

/// Who is asking, with the duties that scope their access (from the school structure).
#[derive(Clone, Debug)]
pub struct Principal {
    pub account: Account,
    /// (class id, subject id) pairs this person is assigned to teach.
    pub teaches: Vec<(String, String)>,
    /// Classes this person is homeroom teacher (GVCN) of.
    pub homeroom: Vec<String>,
    /// Someone else set this account's password this week ([`Account::recently_reset`]): the
    /// acts that carry trust ([`Action::carries_trust`]) wait until the owner had time to notice.
    pub quarantined: bool,
}

impl Principal {
    pub fn id(&self) -> &str {
        &self.account.id
    }
    pub fn has(&self, r: Role) -> bool {
        self.account.has(r)
    }
    pub fn is_bgh(&self) -> bool {
        self.has(Role::Principal) || self.has(Role::VicePrincipal)
    }
}

/// What someone wants to do, with the thing it is done to where that matters.
#[derive(Clone, Copy, Debug)]
pub enum Action<'a> {
    /// Create, disable, reset accounts.
    ManageAccounts,
    /// Edit years, classes, subjects, departments, assignments, students.
    ManageSchool,
    /// Read the school structure (class lists, subjects, who teaches what).
    ViewSchool,
    /// Import and export staff and student lists.
    ImportExport,
    /// Read the audit log.
    ViewAudit,
    /// Device pages: health, backups, updates, logs.
    ManageDevice,
    /// See the backups and show the backup key (school IT and BGH: the key is kept in the
    /// principal's safe, and whoever restores a dead box needs it).
    ViewBackups,
    /// Enter scores for a class × subject.
    EnterScores { class: &'a str, subject: &'a str },
    /// See every subject of a class (homeroom teacher, BGH).
    ViewClassResults { class: &'a str },
    /// See the students' personal ID numbers (mã định danh) of a class: its homeroom teacher,
    /// BGH and the office (DESIGN.md). Everyone else knows a student by name and opaque id.
    ViewPersonalIds { class: &'a str },
    /// Lock a term, approve lists.
    LockTerm,
    /// Review (tổ trưởng, or BGH) the lesson plans of a department.
    ReviewLessonPlans { department: &'a str },
    /// Approve and sign lesson plans (BGH).
    ApproveLessonPlans,
    /// Write and submit one's own lesson plans.
    SubmitLessonPlans,
    /// Browse, search and stream the library.
    UseLibrary,
    /// Add, edit, remove library items.
    ManageLibrary,
    /// Read the district hub's reports and exports (district admin and staff).
    ViewDistrict,
    /// Publish update bundles and shared library items from the hub's page (district admin;
    /// district staff are read-only).
    PublishDistrict,
    /// Check a signed học bạ someone brought against the school's CA and records (BGH and
    /// the office, which works as the IT admin).
    VerifyHocba,
}

impl Action<'_> {
    /// Acts on other people's work or on who signs: refused to an account in quarantine.
    pub fn carries_trust(&self) -> bool {
        matches!(
            self,
            Action::LockTerm
                | Action::ReviewLessonPlans { .. }
                | Action::ApproveLessonPlans
                | Action::ViewBackups
        )
    }
}

pub fn permits(p: &Principal, action: Action<'_>) -> bool {
    !(p.quarantined && action.carries_trust()) && role_allows(p, action)
}

/// What a person *sees* by their role — the queue of their department, the school's classes —
/// which the quarantine does not hide. Never use it to decide whether they may *do* something:
/// that is [`permits`].
pub fn may_see(p: &Principal, action: Action<'_>) -> bool {
    role_allows(p, action)
}

fn role_allows(p: &Principal, action: Action<'_>) -> bool {
    if p.account.disabled {
        return false;
    }
    let admin = p.has(Role::Admin);
    let bgh = p.is_bgh();
    let teaches_any = p.has(Role::Teacher) || p.has(Role::DeptHead) || bgh;
    match action {
        // A district admin exists only on the hub (the accounts API refuses hub roles at a
        // school, and a school's roles at the hub), where accounts are the only thing to manage.
        Action::ManageAccounts => admin || p.has(Role::DistrictAdmin),
        Action::ManageDevice => admin,
        // `admin`: a hub made before the district roles, whose first account is a school admin.
        Action::ViewDistrict => admin || p.has(Role::DistrictAdmin) || p.has(Role::DistrictStaff),
        Action::PublishDistrict => admin || p.has(Role::DistrictAdmin),
        Action::ManageSchool | Action::ImportExport | Action::ViewBackups => admin || bgh,
        Action::ViewSchool | Action::UseLibrary => true,
        Action::ViewAudit => admin || p.has(Role::Principal),
        Action::EnterScores { class, subject } => {
            p.teaches.iter().any(|(c, s)| c == class && s == subject)
        }
        Action::ViewClassResults { class } => bgh || p.homeroom.iter().any(|c| c == class),
        Action::ViewPersonalIds { class } => admin || bgh || p.homeroom.iter().any(|c| c == class),
        Action::LockTerm | Action::ApproveLessonPlans => bgh,
        // BGH may also review (a department head's own plans have no one else to review them).
        Action::ReviewLessonPlans { department } => {
            bgh || (p.has(Role::DeptHead)
                && !department.is_empty()
                && p.account.department.as_deref() == Some(department))
        }
        Action::SubmitLessonPlans => teaches_any,
        Action::ManageLibrary | Action::VerifyHocba => admin || bgh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(roles: &[Role], dept: Option<&str>) -> Principal {
        Principal {
            account: Account {
                id: "u-x".into(),
                username: "x".into(),
                full_name: "X".into(),
                roles: roles.to_vec(),
                department: dept.map(Into::into),
                disabled: false,
                created_at: String::new(),
                must_change_password: false,
                password_reset: None,
            },
            teaches: vec![("6a1".into(), "toan".into())],
            homeroom: vec!["6a1".into()],
            quarantined: false,
        }
    }

    /// The role × action matrix. Columns: admin, principal, vice principal, dept head (of
    /// "tn"), teacher. Every principal in a column teaches Toán in 6A1 and is GVCN of 6A1.
    #[test]
    fn role_action_matrix() {
        use Action::*;
        let cols = [
            who(&[Role::Admin], None),
            who(&[Role::Principal], None),
            who(&[Role::VicePrincipal], None),
            who(&[Role::DeptHead], Some("tn")),
            who(&[Role::Teacher], Some("tn")),
        ];
        #[rustfmt::skip]
        let rows: Vec<(Action, [bool; 5])> = vec![
            (ManageAccounts,                                     [true,  false, false, false, false]),
            (ManageDevice,                                       [true,  false, false, false, false]),
            (ViewBackups,                                        [true,  true,  true,  false, false]),
            (ManageSchool,                                       [true,  true,  true,  false, false]),
            (ImportExport,                                       [true,  true,  true,  false, false]),
            (ViewSchool,                                         [true,  true,  true,  true,  true ]),
            (ViewAudit,                                          [true,  true,  false, false, false]),
            (EnterScores { class: "6a1", subject: "toan" },      [true,  true,  true,  true,  true ]),
            (EnterScores { class: "6a1", subject: "van" },       [false, false, false, false, false]),
            (EnterScores { class: "6a2", subject: "toan" },      [false, false, false, false, false]),
            (ViewClassResults { class: "6a1" },                  [true,  true,  true,  true,  true ]),
            (ViewClassResults { class: "6a2" },                  [false, true,  true,  false, false]),
            (ViewPersonalIds { class: "6a1" },                   [true,  true,  true,  true,  true ]),
            (ViewPersonalIds { class: "6a2" },                   [true,  true,  true,  false, false]),
            (LockTerm,                                           [false, true,  true,  false, false]),
            (ReviewLessonPlans { department: "tn" },             [false, true,  true,  true,  false]),
            (ReviewLessonPlans { department: "van" },            [false, true,  true,  false, false]),
            (ApproveLessonPlans,                                 [false, true,  true,  false, false]),
            (SubmitLessonPlans,                                  [false, true,  true,  true,  true ]),
            (UseLibrary,                                         [true,  true,  true,  true,  true ]),
            (ManageLibrary,                                      [true,  true,  true,  false, false]),
        ];
        for (action, expected) in rows {
            for (p, want) in cols.iter().zip(expected) {
                assert_eq!(
                    permits(p, action),
                    want,
                    "{:?} doing {:?}",
                    p.account.roles,
                    action
                );
            }
        }
    }

    #[test]
    fn an_account_in_quarantine_does_nothing_that_carries_trust() {
        let mut p = who(&[Role::Principal, Role::Teacher], Some("tn"));
        p.quarantined = true;
        assert!(!permits(&p, Action::ApproveLessonPlans));
        assert!(!permits(&p, Action::LockTerm));
        assert!(!permits(&p, Action::ReviewLessonPlans { department: "tn" }));
        // Its own work goes on.
        assert!(permits(&p, Action::SubmitLessonPlans));
        assert!(permits(
            &p,
            Action::EnterScores {
                class: "6a1",
                subject: "toan"
            }
        ));
        assert!(permits(&p, Action::ViewClassResults { class: "6a2" }));
    }

    #[test]
    fn disabled_accounts_may_do_nothing() {
        let mut p = who(&[Role::Admin, Role::Principal], None);
        p.account.disabled = true;
        assert!(!permits(&p, Action::ViewSchool));
        assert!(!permits(&p, Action::ManageAccounts));
    }
}
