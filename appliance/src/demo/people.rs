//! Vietnamese names and student profiles, drawn from a seeded generator so every demo school is
//! the same.

use super::*;

const SURNAMES: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];

const MIDDLE_M: &[&str] = &[
    "Văn", "Minh", "Đức", "Quang", "Hữu", "Gia", "Thành", "Công", "Tuấn", "Hoàng",
];

const MIDDLE_F: &[&str] = &[
    "Thị", "Ngọc", "Thu", "Thanh", "Khánh", "Bảo", "Phương", "Mai", "Hồng", "Diệu",
];

const GIVEN_M: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Hải", "Hiếu", "Huy", "Khang", "Khoa", "Long", "Minh", "Nam",
    "Phúc", "Quân", "Sơn", "Tài", "Thắng", "Trung", "Tùng", "Việt",
];

const GIVEN_F: &[&str] = &[
    "Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Lan", "Linh", "Mai",
    "Ngân", "Nhi", "Oanh", "Phương", "Quỳnh", "Thảo", "Trang", "Yến",
];

/// A small deterministic generator so the demo school is the same on every machine.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

pub(super) fn person(rng: &mut Lcg, female: bool) -> String {
    let (mid, given) = if female {
        (MIDDLE_F, GIVEN_F)
    } else {
        (MIDDLE_M, GIVEN_M)
    };
    format!(
        "{} {} {}",
        rng.pick(SURNAMES),
        rng.pick(mid),
        rng.pick(given)
    )
}

/// Nơi sinh, dân tộc, chỗ ở and parents for a demo student (the father shares the surname).
pub(super) fn demo_profile(rng: &mut Lcg, full_name: &str) -> school::StudentProfile {
    let surname = full_name.split(' ').next().unwrap_or_default();
    let father = person(rng, false);
    let father_given = father.split_once(' ').map_or("", |(_, rest)| rest);
    school::StudentProfile {
        birthplace: rng
            .pick(&[
                "Bệnh viện Từ Dũ, Quận 1, TP. Hồ Chí Minh",
                "Bệnh viện Hùng Vương, Quận 5, TP. Hồ Chí Minh",
                "Trạm y tế xã Tân Nhựt, huyện Bình Chánh, TP. Hồ Chí Minh",
                "Bệnh viện Đa khoa tỉnh Long An",
            ])
            .into(),
        ethnicity: if rng.next().is_multiple_of(12) {
            "Hoa"
        } else {
            "Kinh"
        }
        .into(),
        address: format!(
            "{} {}, {}, TP. Hồ Chí Minh",
            rng.next() % 300 + 1,
            rng.pick(&["Nguyễn Trãi", "Trần Hưng Đạo", "Lê Văn Sỹ", "Võ Văn Tần"]),
            rng.pick(&["Phường Bến Thành", "Phường Chợ Quán", "Phường Xuân Hòa"])
        ),
        father: format!("{surname} {father_given}"),
        mother: person(rng, true),
        guardian: String::new(),
        ..Default::default()
    }
}
