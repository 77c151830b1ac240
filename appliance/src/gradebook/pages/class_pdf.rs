//! The class's printed book: the TT22 sổ theo dõi và đánh giá học sinh of a term or the year,
//! and for a primary school TT27's bảng tổng hợp kết quả đánh giá giáo dục của lớp.

use super::*;

/// The class summary for a term or the year as a landscape PDF (homeroom teacher, BGH).
pub(super) async fn class_pdf(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(class): Path<String>,
    typed: crate::http::PageQuery<TermQuery>,
) -> Result<Response, ApiError> {
    let (book, school_name, signers) = {
        let rx = s.store.read()?;
        let book = crate::gradebook::class_book_for(&rx, &u.principal, &class)?;
        let signers = crate::gradebook::forms::class_signers(&rx, &book)?;
        (
            book,
            school::school_info(&rx)?
                .map(|i| i.name)
                .unwrap_or_default(),
            signers,
        )
    };
    let title = format!("Sổ theo dõi lớp {}", book.class.name);
    let base = format!("/grades/class/{}/pdf", book.class.id);
    let per = match term_filters(&s, &u, &headers, typed, &title, &base)? {
        Ok((_, per)) => per,
        Err(refused) => return Ok(refused),
    };
    let bytes =
        tokio::task::spawn_blocking(move || class_book_pdf(&book, per, &school_name, &signers))
            .await?
            .map_err(ApiError::internal)?;
    Ok(pdf_response(
        bytes,
        &format!("so-theo-doi-{class}-{}.pdf", period_code(per)),
    ))
}

/// The class's printed book of a term or the year (the page's download and the archive's file).
pub(super) fn class_book_pdf(
    book: &ClassBook,
    per: Period,
    school_name: &str,
    signers: &crate::gradebook::forms::ClassSigners,
) -> Result<Vec<u8>, crate::gradebook::pdf::PdfError> {
    let rows = summary_rows(book, per);
    let label = match per {
        Period::Term(t) => t.label(),
        Period::Year => "Cả năm",
    };
    if book.is_primary() {
        return primary_class_layout(book, per, &rows, school_name, signers).finish();
    }
    let mut l = crate::gradebook::pdf::Layout::new(true);
    l.line(9.0, false, school_name);
    l.centred(
        13.0,
        true,
        &format!(
            "SỔ THEO DÕI VÀ ĐÁNH GIÁ HỌC SINH — LỚP {} — {} — NĂM HỌC {}",
            book.class.name,
            label.to_uppercase(),
            book.class.year
        ),
    );
    l.gap(6.0);
    let year = per == Period::Year;
    let mut header = vec!["STT".to_string(), "Họ và tên".to_string()];
    header.extend(
        book.subjects
            .iter()
            .map(|s| crate::gradebook::pdf::abbreviation(&s.name)),
    );
    header.extend(["KQHT", "KQRL", "Nghỉ"].map(String::from));
    let mut widths = vec![24.0, 88.0];
    widths.extend(book.subjects.iter().map(|_| 36.0));
    widths.extend([38.0, 38.0, 28.0]);
    if year {
        // The Sổ theo dõi's "Mức đánh giá sau khi rèn luyện trong kì nghỉ hè; kiểm tra, đánh
        // giá lại" (TT22 Đ13–14), then the decision and the title, so the year's Chưa đạt
        // is never read beside a promotion without the level after the summer.
        header.extend(
            [
                "Sau hè: điểm, mức đánh giá lại",
                "Sau hè: KQRL",
                "Sau hè: KQHT",
                "Kết quả",
                "Danh hiệu",
            ]
            .map(String::from),
        );
        widths.extend([62.0, 34.0, 34.0, 60.0, 50.0]);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let mut v = vec![(n + 1).to_string(), r.name.clone()];
            v.extend(r.subjects.iter().cloned());
            v.push(format!("{}{}", r.level, if r.adjusted { "*" } else { "" }));
            v.push(r.conduct.clone());
            v.push(r.absences.to_string());
            if year {
                let y = &book.year[n];
                v.push(crate::gradebook::forms::reassessed_list(
                    book,
                    n,
                    crate::gradebook::pdf::abbreviation,
                ));
                let after = y.after_summer;
                v.push(
                    after
                        .map(|a| a.conduct.label().to_string())
                        .unwrap_or_default(),
                );
                v.push(
                    after
                        .map(|a| a.level.label().to_string())
                        .unwrap_or_default(),
                );
                v.push(r.outcome.clone());
                v.push(r.award.clone());
            }
            v
        })
        .collect();
    l.table_with(&widths, &header, &body, 7.0, Some(6.0));
    l.gap(4.0);
    let subjects: Vec<String> = book
        .subjects
        .iter()
        .map(|s| (crate::gradebook::pdf::abbreviation(&s.name), &s.name))
        .filter(|(a, n)| a != *n)
        .map(|(a, n)| format!("{a}: {n}"))
        .collect();
    let mut legend = vec![];
    if !subjects.is_empty() {
        legend.push(format!("{}.", subjects.join("; ")));
    }
    legend.push(
        "KQHT: Kết quả học tập; KQRL: Kết quả rèn luyện; Nghỉ: số buổi nghỉ học.".to_string(),
    );
    if year {
        legend.push(
            "Sau hè: mức đánh giá sau khi rèn luyện trong kì nghỉ hè; kiểm tra, đánh giá lại \
             (Điều 13, 14 Thông tư 22/2021)."
                .into(),
        );
    }
    legend.push(
        "* mức được điều chỉnh lên một mức vì chỉ một môn kéo xuống (Điều 9 khoản 3, Thông \
         tư 22/2021)."
            .into(),
    );
    // Why a title the levels would give is not given: a note under the table, never a
    // sentence in the Danh hiệu cell (it ran to 12 lines; domain review r4).
    if year {
        for (n, st) in book.students.iter().enumerate() {
            if let Some(note) = book.year[n].award_note() {
                legend.push(format!("Ghi chú — {}. {}: {note}.", n + 1, st.full_name));
            }
        }
    }
    // Wrapped, never cut: every abbreviation of the table is explained.
    l.paragraph(7.5, false, 0.0, &legend.join("\n"));
    class_signatures(&mut l, signers);
    l.finish()
}

/// Each class's printed book of `year` for the school's archive (`app::records`): term I, term
/// II and the year, as the class page prints them for BGH (every student, mã định danh as
/// stored).
pub fn class_books(
    store: &crate::store::Store,
    year: &str,
) -> Result<Vec<crate::school::archive::RecordFile>, String> {
    let rx = store.read().map_err(|e| e.to_string())?;
    let school_name = school::school_info(&rx)
        .map_err(|e| e.to_string())?
        .map(|i| i.name)
        .unwrap_or_default();
    let st = crate::gradebook::settings(&rx).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for class in crate::gradebook::lock::classes_of_year(&rx, year).map_err(|e| e.to_string())? {
        let book = crate::gradebook::class_book(&rx, &class.id, &st).map_err(|e| e.to_string())?;
        let signers =
            crate::gradebook::forms::class_signers(&rx, &book).map_err(|e| e.to_string())?;
        let title = if book.is_primary() {
            "BẢNG TỔNG HỢP KẾT QUẢ ĐÁNH GIÁ GIÁO DỤC CỦA LỚP"
        } else {
            "SỔ THEO DÕI VÀ ĐÁNH GIÁ HỌC SINH"
        };
        for per in [
            Period::Term(TermId::Hk1),
            Period::Term(TermId::Hk2),
            Period::Year,
        ] {
            let bytes =
                class_book_pdf(&book, per, &school_name, &signers).map_err(|e| e.to_string())?;
            out.push(crate::school::archive::RecordFile {
                path: format!(
                    "so-theo-doi/{}/so-theo-doi-{}-{}.pdf",
                    school::slug(&class.name),
                    school::slug(&class.name),
                    period_code(per)
                ),
                kind: "so-theo-doi-danh-gia",
                title: title.into(),
                class: Some(class.name.clone()),
                department: None,
                signed: false,
                current: None,
                bytes,
            });
        }
    }
    Ok(out)
}

/// Short column headings for the qualities and competences of TT27 Đ5 (the paper form prints
/// them upright in narrow columns; a landscape A4 has no room for the full names).
const QUALITY_ABBR: [(&str, &str); 15] = [
    ("Yêu nước", "YN"),
    ("Nhân ái", "NA"),
    ("Chăm chỉ", "CC"),
    ("Trung thực", "TTh"),
    ("Trách nhiệm", "TNh"),
    ("Tự chủ và tự học", "TCH"),
    ("Giao tiếp và hợp tác", "GHT"),
    ("Giải quyết vấn đề và sáng tạo", "GQS"),
    ("Ngôn ngữ", "NgN"),
    ("Tính toán", "TTo"),
    ("Khoa học", "KHo"),
    ("Công nghệ", "CNg"),
    ("Tin học", "THo"),
    ("Thẩm mĩ", "TMĩ"),
    ("Thể chất", "TCh"),
];

pub(super) fn quality_abbr(name: &str) -> &str {
    QUALITY_ABBR
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, a)| a)
}

/// A primary class's "Bảng tổng hợp kết quả đánh giá giáo dục của lớp" (TT27 Đ9, the form of
/// the appendix): per pupil each subject's level and test score, the level of each quality and
/// competence, and at the end of the year the education result, the award and the completion.
/// No conduct, no summer and no TT22 adjustment: TT27 has none of them.
pub(super) fn primary_class_layout(
    book: &ClassBook,
    per: Period,
    rows: &[SummaryRow],
    school_name: &str,
    signers: &crate::gradebook::forms::ClassSigners,
) -> crate::gradebook::pdf::Layout {
    let when = match per {
        Period::Term(t) => format!("{} — NĂM HỌC", t.label().to_uppercase()),
        Period::Year => "CUỐI NĂM HỌC".into(),
    };
    let mut l = crate::gradebook::pdf::Layout::new(true);
    l.line(9.0, false, school_name);
    l.centred(
        12.0,
        true,
        &format!(
            "BẢNG TỔNG HỢP KẾT QUẢ ĐÁNH GIÁ GIÁO DỤC CỦA LỚP {} — {when} {}",
            book.class.name, book.class.year
        ),
    );
    l.gap(6.0);
    let year = per == Period::Year;
    let mut header = vec!["STT".to_string(), "Họ và tên".to_string()];
    let mut widths = vec![20.0, 99.0];
    header.extend(
        book.subjects
            .iter()
            .map(|s| crate::gradebook::pdf::abbreviation(&s.name)),
    );
    widths.extend(book.subjects.iter().map(|_| 30.0));
    header.extend(QUALITY_ABBR.iter().map(|(_, a)| a.to_string()));
    widths.extend(QUALITY_ABBR.iter().map(|_| 20.0));
    // Wide enough for its heading whole ("Ng…" at 24 pt; domain review r4).
    header.push("Nghỉ".into());
    widths.push(30.0);
    if year {
        header.extend(
            [
                "Kết quả giáo dục",
                "Khen thưởng",
                "Hoàn thành chương trình lớp học / tiểu học",
            ]
            .map(String::from),
        );
        widths.extend([42.0, 64.0, 72.0]);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let mut v = vec![(n + 1).to_string(), r.name.clone()];
            v.extend(r.subjects.iter().cloned());
            // Tốt / Đạt / Cần cố gắng as T / Đ / C, as the form's cells hold them.
            v.extend(r.qualities.iter().map(|(_, lv)| match lv.as_str() {
                "Tốt" => "T".to_string(),
                "Đạt" => "Đ".to_string(),
                "Cần cố gắng" => "C".to_string(),
                other => other.to_string(),
            }));
            v.push(r.absences.to_string());
            if year {
                let y = &book.year[n];
                v.push(y.primary.map(|p| p.code().to_string()).unwrap_or_default());
                v.push(r.award.clone());
                v.push(
                    y.primary
                        .map(|p| crate::gradebook::forms::completion_wording(p, y.grade))
                        .unwrap_or_default(),
                );
            }
            v
        })
        .collect();
    l.table(&widths, &header, &body, 6.5);
    l.gap(4.0);
    let subjects: Vec<String> = book
        .subjects
        .iter()
        .map(|s| (crate::gradebook::pdf::abbreviation(&s.name), &s.name))
        .filter(|(a, n)| a != *n)
        .map(|(a, n)| format!("{a}: {n}"))
        .collect();
    let named = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("{}: {n}", quality_abbr(n)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut legend = vec![];
    if !subjects.is_empty() {
        legend.push(format!(
            "Môn học và hoạt động giáo dục — {}.",
            subjects.join("; ")
        ));
    }
    legend.push(format!(
        "Phẩm chất chủ yếu — {}.",
        named(&rules::tt27::QUALITIES)
    ));
    legend.push(format!(
        "Năng lực chung — {}. Năng lực đặc thù — {}.",
        named(&rules::tt27::COMPETENCES[..3]),
        named(&rules::tt27::COMPETENCES[3..])
    ));
    legend.push(
        "Mức đạt được: T = Hoàn thành tốt, H = Hoàn thành, C = Chưa hoàn thành, kèm điểm bài \
         kiểm tra định kì; phẩm chất, năng lực: T = Tốt, Đ = Đạt, C = Cần cố gắng."
            .into(),
    );
    legend.push("Nghỉ: số buổi nghỉ học (có phép và không phép).".into());
    if year {
        legend.push(
            "Kết quả giáo dục: HTXS = Hoàn thành xuất sắc, HTT = Hoàn thành tốt, HT = Hoàn \
             thành, CHT = Chưa hoàn thành."
                .into(),
        );
    }
    l.paragraph(7.5, false, 0.0, &legend.join("\n"));
    class_signatures(&mut l, signers);
    l
}

/// The date line and the homeroom teacher's and principal's blocks under a class summary.
pub(super) fn class_signatures(
    l: &mut crate::gradebook::pdf::Layout,
    signers: &crate::gradebook::forms::ClassSigners,
) {
    // The date line, its blocks and the names stay on one page.
    l.ensure(110.0);
    l.gap(6.0);
    crate::gradebook::forms::date_header(l, signers.place.as_deref(), None);
    l.gap(-16.0);
    let dots = "………………………";
    let name = |n: &str| {
        if n.trim().is_empty() {
            dots.to_string()
        } else {
            n.to_string()
        }
    };
    let (gv, ht) = (name(&signers.homeroom), name(&signers.principal));
    l.signatures(
        &["GIÁO VIÊN CHỦ NHIỆM", "(Kí, ghi rõ họ tên)", &gv],
        &["HIỆU TRƯỞNG", "(Kí, ghi rõ họ tên và đóng dấu)", &ht],
    );
}
