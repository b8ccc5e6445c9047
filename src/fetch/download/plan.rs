//! The plan for one body, decided from its head before a byte of it is
//! saved: the codings to undo, where the saved file will end, and the
//! checks each piece must pass on the way (`--max-filesize`, the end a
//! `Content-Range` gives). Pure: the download moves the bytes.

use std::fmt;

use crate::http::{self, Coding, CodingError, Framing, ResponseHead};

/// How a body relates to what is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// The rest of the saved version (a 206 that matches): appended, and
    /// it must end the file exactly at `end` (its `Content-Range`).
    Rest { end: u64 },
    /// A whole body: it replaces whatever was saved.
    Whole,
}

/// What is known before the body, and the checks on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The codings to undo, in order: the content codings the server
    /// applied (with `--compressed` only), then the transfer codings.
    pub codings: Vec<Coding>,
    /// Where the saved file will end, when the head says so.
    pub total: Option<u64>,
    /// Where a continuation must end the file (its `Content-Range`).
    pub end: Option<u64>,
    /// `--max-filesize`.
    max: Option<u64>,
}

/// Why a body cannot be saved, or stopped being saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The saved bytes plus the Content-Length overflow a file's size.
    LengthOverflow,
    /// The file would be larger than `--max-filesize`.
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// A continuation came with a coding: decoded bytes cannot continue
    /// saved ones.
    CodedContinuation,
    /// A continuation's Content-Length disagrees with its Content-Range.
    LengthNotRange,
    /// A continuation runs past the end its Content-Range gave.
    PastEnd {
        /// The end.
        end: u64,
    },
    /// A continuation ended before the end its Content-Range gave.
    Short {
        /// Bytes saved.
        saved: u64,
        /// The end.
        end: u64,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::LengthOverflow => f.write_str("a Content-Length past what a file can hold"),
            PlanError::TooLarge { max } => write!(
                f,
                "the download is larger than --max-filesize ({max} bytes)"
            ),
            PlanError::CodedContinuation => f.write_str(
                "the rest of the file came with a coding, and decoded bytes cannot continue saved ones",
            ),
            PlanError::LengthNotRange => f.write_str(
                "the Content-Length of the rest does not match its Content-Range",
            ),
            PlanError::PastEnd { end } => write!(
                f,
                "the rest of the file runs past its Content-Range's end, byte {end}"
            ),
            PlanError::Short { saved, end } => write!(
                f,
                "the rest of the file ended at byte {} of {end}",
                crate::human::thousands(*saved)
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// The codings to undo for `head`: the content codings first applied by
/// the server (only when `compressed`), then the transfer codings.
pub fn codings(head: &ResponseHead, compressed: bool) -> Result<Vec<Coding>, CodingError> {
    let mut codings = if compressed {
        http::content_codings(head)?
    } else {
        Vec::new()
    };
    codings.extend(http::transfer_codings(head)?);
    Ok(codings)
}

impl Plan {
    /// The plan for a body framed as `framing`, after `saved` bytes, with
    /// these `codings` to undo and at most `max` bytes in all.
    pub fn new(
        codings: Vec<Coding>,
        framing: Framing,
        body: Body,
        saved: u64,
        max: Option<u64>,
    ) -> Result<Plan, PlanError> {
        let total = match framing {
            Framing::Length(length) if codings.is_empty() => {
                Some(saved.checked_add(length).ok_or(PlanError::LengthOverflow)?)
            }
            _ => None,
        };
        if let (Some(max), Some(total)) = (max, total)
            && total > max
        {
            return Err(PlanError::TooLarge { max });
        }
        // A continuation must end the file where its Content-Range says:
        // shorter is a cut (retried), longer or decoded would stitch.
        let end = match body {
            Body::Rest { end } => {
                if !codings.is_empty() {
                    return Err(PlanError::CodedContinuation);
                }
                if total.is_some_and(|total| total != end) {
                    return Err(PlanError::LengthNotRange);
                }
                Some(end)
            }
            Body::Whole => None,
        };
        Ok(Plan {
            codings,
            total,
            end,
            max,
        })
    }

    /// Checks that the file may grow to `after` bytes.
    pub fn check_growth(&self, after: u64) -> Result<(), PlanError> {
        if let Some(max) = self.max
            && after > max
        {
            return Err(PlanError::TooLarge { max });
        }
        match self.end {
            Some(end) if after > end => Err(PlanError::PastEnd { end }),
            _ => Ok(()),
        }
    }

    /// Checks, once the body has ended, that the file reached its end: a
    /// body framed until close, or cut in a way the framing cannot tell,
    /// still has to reach the end its Content-Range gave.
    pub fn check_end(&self, saved: u64) -> Result<(), PlanError> {
        match self.end {
            Some(end) if saved < end => Err(PlanError::Short { saved, end }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(wire: &str) -> ResponseHead {
        http::parse_head(wire.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn a_whole_body_of_known_length_ends_the_file_there() {
        let plan = Plan::new(Vec::new(), Framing::Length(10), Body::Whole, 0, None).unwrap();
        assert_eq!((plan.total, plan.end), (Some(10), None));
        plan.check_growth(10).unwrap();
        plan.check_end(3).unwrap();
        let chunked = Plan::new(Vec::new(), Framing::Chunked, Body::Whole, 0, None).unwrap();
        assert_eq!(chunked.total, None);
    }

    #[test]
    fn the_size_cap_refuses_early_when_the_length_says_and_on_the_way_when_not() {
        let early = Plan::new(Vec::new(), Framing::Length(11), Body::Whole, 0, Some(10));
        assert_eq!(early.unwrap_err(), PlanError::TooLarge { max: 10 });
        let plan = Plan::new(Vec::new(), Framing::UntilClose, Body::Whole, 0, Some(10)).unwrap();
        plan.check_growth(10).unwrap();
        assert_eq!(
            plan.check_growth(11).unwrap_err().to_string(),
            "the download is larger than --max-filesize (10 bytes)"
        );
    }

    #[test]
    fn a_continuation_must_end_where_its_content_range_says() {
        let rest = Body::Rest { end: 100 };
        let plan = Plan::new(Vec::new(), Framing::Length(60), rest, 40, None).unwrap();
        assert_eq!((plan.total, plan.end), (Some(100), Some(100)));
        assert_eq!(
            plan.check_growth(101).unwrap_err(),
            PlanError::PastEnd { end: 100 }
        );
        let until_close = Plan::new(Vec::new(), Framing::UntilClose, rest, 40, None).unwrap();
        let short = until_close.check_end(99).unwrap_err();
        assert_eq!(
            short.to_string(),
            "the rest of the file ended at byte 99 of 100"
        );
        until_close.check_end(100).unwrap();
        let wrong = Plan::new(Vec::new(), Framing::Length(61), rest, 40, None);
        assert_eq!(wrong.unwrap_err(), PlanError::LengthNotRange);
        let coded = Plan::new(vec![Coding::Gzip], Framing::Length(60), rest, 40, None);
        assert_eq!(coded.unwrap_err(), PlanError::CodedContinuation);
    }

    #[test]
    fn lengths_past_a_files_size_are_refused() {
        let plan = Plan::new(Vec::new(), Framing::Length(u64::MAX), Body::Whole, 1, None);
        assert_eq!(plan.unwrap_err(), PlanError::LengthOverflow);
    }

    #[test]
    fn a_coded_body_has_no_known_end_and_content_codings_need_compressed() {
        let gzip = head("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(codings(&gzip, false).unwrap(), []);
        let undo = codings(&gzip, true).unwrap();
        assert_eq!(undo, [Coding::Gzip]);
        let plan = Plan::new(undo, Framing::Length(5), Body::Whole, 0, None).unwrap();
        assert_eq!(plan.total, None, "the decoded size is not the length");
        let chunked_gzip = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(codings(&chunked_gzip, false).unwrap(), [Coding::Gzip]);
        let unknown = head("HTTP/1.1 200 OK\r\nContent-Encoding: x-magic\r\n\r\n");
        assert!(codings(&unknown, true).is_err());
    }
}
