use super::*;

fn framer() -> Framer {
    Framer::new(Limits {
        max_line: 100,
        max_literal: 50,
        max_command: 200,
    })
}

fn drain(f: &mut Framer) -> Vec<Frame> {
    std::iter::from_fn(|| f.next_frame()).collect()
}

#[test]
fn a_line_is_a_command() {
    let mut f = framer();
    f.push(b"a1 NOOP\r\nb");
    assert_eq!(drain(&mut f), vec![Frame::Command(b"a1 NOOP\r\n".to_vec())]);
    f.push(b"2 LOGOUT\r\n");
    assert_eq!(
        drain(&mut f),
        vec![Frame::Command(b"b2 LOGOUT\r\n".to_vec())]
    );
    assert!(f.is_idle());
}

#[test]
fn rfc9051_4_3_synchronising_literal_asks_for_continuation() {
    let mut f = framer();
    f.push(b"a LOGIN {5}\r\n");
    assert_eq!(drain(&mut f), vec![Frame::NeedContinuation]);
    f.push(b"ali");
    assert_eq!(drain(&mut f), vec![]);
    f.push(b"ce {2}\r\n");
    assert_eq!(drain(&mut f), vec![Frame::NeedContinuation]);
    f.push(b"pw\r\n");
    assert_eq!(
        drain(&mut f),
        vec![Frame::Command(
            b"a LOGIN {5}\r\nalice {2}\r\npw\r\n".to_vec()
        )]
    );
}

#[test]
fn rfc7888_non_synchronising_literal_needs_no_continuation() {
    let mut f = framer();
    f.push(b"a APPEND INBOX {3+}\r\nx\r\n\r\n");
    assert_eq!(
        drain(&mut f),
        vec![Frame::Command(b"a APPEND INBOX {3+}\r\nx\r\n\r\n".to_vec())]
    );
}

#[test]
fn a_literal_may_contain_crlf_and_braces() {
    let mut f = framer();
    f.push(b"a X {6+}\r\n{1}\r\n\r\n");
    assert_eq!(
        drain(&mut f),
        vec![Frame::Command(b"a X {6+}\r\n{1}\r\n\r\n".to_vec())]
    );
}

#[test]
fn an_oversized_synchronising_literal_is_refused_and_the_connection_goes_on() {
    let mut f = framer();
    f.push(b"a APPEND INBOX {51}\r\nb NOOP\r\n");
    let frames = drain(&mut f);
    assert!(matches!(
        &frames[0],
        Frame::Rejected { tag: Some(t), code: Some("TOOBIG"), no: true, .. } if t == "a"
    ));
    assert_eq!(frames[1], Frame::Command(b"b NOOP\r\n".to_vec()));
}

#[test]
fn an_oversized_non_synchronising_literal_is_skipped() {
    let mut f = framer();
    let mut input = b"a APPEND INBOX {60+}\r\n".to_vec();
    input.extend_from_slice(&[b'x'; 60]);
    input.extend_from_slice(b"\r\nb NOOP\r\n");
    // Byte by byte: the skipping survives any split.
    let mut frames = Vec::new();
    for b in input {
        f.push(&[b]);
        frames.extend(drain(&mut f));
    }
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(matches!(
        &frames[0],
        Frame::Rejected {
            code: Some("TOOBIG"),
            ..
        }
    ));
    assert_eq!(frames[1], Frame::Command(b"b NOOP\r\n".to_vec()));
}

#[test]
fn an_overlong_line_is_refused_with_bad_and_skipped() {
    let mut f = framer();
    let mut input = b"t1 SEARCH ".to_vec();
    input.extend_from_slice(&[b'a'; 1000]);
    input.extend_from_slice(b"\r\nt2 NOOP\r\n");
    let mut frames = Vec::new();
    for chunk in input.chunks(7) {
        f.push(chunk);
        frames.extend(drain(&mut f));
    }
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(matches!(
        &frames[0],
        Frame::Rejected { tag: Some(t), no: false, .. } if t == "t1"
    ));
    assert_eq!(frames[1], Frame::Command(b"t2 NOOP\r\n".to_vec()));
}

#[test]
fn brace_text_that_is_not_a_literal_is_part_of_the_line() {
    let mut f = framer();
    f.push(b"a SEARCH SUBJECT {x}\r\n");
    assert_eq!(
        drain(&mut f),
        vec![Frame::Command(b"a SEARCH SUBJECT {x}\r\n".to_vec())]
    );
}

#[test]
fn zero_length_literal() {
    let mut f = framer();
    f.push(b"a LOGIN {0}\r\n");
    assert_eq!(drain(&mut f), vec![Frame::NeedContinuation]);
    f.push(b" pw\r\n");
    assert_eq!(
        drain(&mut f),
        vec![Frame::Command(b"a LOGIN {0}\r\n pw\r\n".to_vec())]
    );
}
