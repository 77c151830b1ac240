//! Writes the fuzz corpus seeds (fuzz/corpus/<target>/): a real student list, staff list and
//! score sheet as .xlsx, the crafted sheets that claim a huge grid (a cell at XFD1048576, a lying
//! `<dimension>`, cells and rows without references, wide rows, many shared strings, a shared
//! formula with a huge index, an .ods with huge repeats, an .xls header) for both spreadsheet
//! targets, a signed relay batch, a signed update bundle (both with the key the fuzz
//! targets use), and typed scores. `cargo run --example fuzz_seeds -- fuzz/corpus`

use std::fs;
use std::path::Path;

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let out = Path::new(&out);
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let d = out.join(target);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(name), bytes).unwrap();
    };
    put(
        "spreadsheet_import",
        "students.xlsx",
        &xlsx(&[
            &["DANH SÁCH HỌC SINH"],
            &["Họ và tên", "Ngày sinh", "Giới tính", "Mã định danh", "Lớp"],
            &["Phạm Minh Khôi", "12/03/2014", "Nam", "079214999001", "6A1"],
            &["Vũ Thị Lụa", "30/02/2014", "Nữ", "079314999002", "6A1"],
        ]),
    );
    put(
        "spreadsheet_import",
        "staff.xlsx",
        &xlsx(&[
            &["Tên đăng nhập", "Họ và tên", "Vai trò", "Tổ"],
            &["gvmoi", "Đỗ Thị Mới", "Giáo viên", "Tổ Toán - Tin"],
        ]),
    );
    put(
        "spreadsheet_import",
        "not-a-sheet.csv",
        b"Ho va ten,Lop\nA,6A1\n",
    );
    put(
        "score_import",
        "scores.xlsx",
        &xlsx(&[
            &["BẢNG ĐIỂM MÔN TOÁN"],
            &[
                "Mã định danh",
                "Họ và tên",
                "TX1 HKI",
                "TX2 HKI",
                "GK HKI",
                "CK HKI",
            ],
            &["079214000001", "Nguyễn Văn An", "8", "7,5", "9", "8.5"],
            &["", "Trần Thị Bình", "10", "", "Đ", "11"],
        ]),
    );
    use tram::school::sheet::crafted;
    for (name, bytes) in [
        ("far-cell.xlsx", crafted::far_cell()),
        ("lying-dimension.xlsx", crafted::lying_dimension()),
        ("implicit-columns.xlsx", crafted::implicit_columns()),
        ("implicit-rows.xlsx", crafted::implicit_rows()),
        ("wide-rows.xlsx", crafted::wide_rows()),
        ("many-strings.xlsx", crafted::many_strings()),
        ("shared-formula.xlsx", crafted::shared_formula()),
        ("repeats.ods", crafted::ods_repeats()),
        ("header.xls", crafted::xls_header()),
    ] {
        put("spreadsheet_import", name, &bytes);
        put("score_import", name, &bytes);
    }

    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let entries: Vec<tram::store::OutboxEntry> = (1..=3)
        .map(|seq| tram::store::OutboxEntry {
            seq,
            kind: "result".into(),
            key: format!("hs{seq}/toan/hk1"),
            op: "update".into(),
            record: Some(serde_json::json!({"diem_tb": "8,5", "muc": "Tốt"})),
            at: "2026-11-23T08:00:00Z".into(),
        })
        .collect();
    put(
        "relay_batch",
        "batch-3.bin",
        &tram::relay::batch::build(&key, "79000701", 7, &entries, 0, "2026-11-23T08:00:00Z"),
    );
    put(
        "relay_batch",
        "batch-0.bin",
        &tram::relay::batch::build(&key, "79000701", 1, &[], 0, "2026-11-23T08:00:00Z"),
    );

    let tmp = std::env::temp_dir().join(format!("tram-seeds-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap();
    fs::write(tmp.join("tram"), b"#!/bin/sh\necho tram 9.9.9\n").unwrap();
    fs::write(tmp.join("notes.txt"), "Trạm 9.9.9\n").unwrap();
    let b = tmp.join("b.bundle");
    tram::pki::bundle::build(
        &key,
        "9.9.9",
        "x86_64",
        &[
            ("bin/tram".into(), tmp.join("tram")),
            ("share/notes.txt".into(), tmp.join("notes.txt")),
        ],
        "seed",
        jiff::Timestamp::from_second(1_795_000_000).unwrap(),
        &b,
    )
    .unwrap();
    put("update_bundle", "signed.bundle", &fs::read(&b).unwrap());
    let _ = fs::remove_dir_all(&tmp);

    for (i, s) in [
        "8,5", "10", "0", "7.25", "Đ", "CĐ", "", "11", "-1", "8,", ",5", "T", "H", "C",
    ]
    .iter()
    .enumerate()
    {
        put("score_parse", &format!("s{i}"), s.as_bytes());
    }
}
