//! What the caller tells the session about a mailbox: message flags, UIDs,
//! sizes and dates. Message bytes are asked for on demand
//! ([`crate::Event::FetchMessage`]), so the store stays the caller's.

use std::fmt;

/// IMAP system flags (keywords are not stored: `PERMANENTFLAGS` has no `\*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(u8);

impl Flags {
    /// `\Seen`
    pub const SEEN: Flags = Flags(1);
    /// `\Answered`
    pub const ANSWERED: Flags = Flags(2);
    /// `\Flagged`
    pub const FLAGGED: Flags = Flags(4);
    /// `\Deleted`
    pub const DELETED: Flags = Flags(8);
    /// `\Draft`
    pub const DRAFT: Flags = Flags(16);
    /// `\Recent` (session flag: the caller sets it for messages new to this session,
    /// e.g. those in Maildir's `new/`; clients cannot store it).
    pub const RECENT: Flags = Flags(32);

    const STORABLE: u8 = 31;

    /// No flag.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// Both sets.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// This set without `other`.
    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags a client may store (all but `\Recent`).
    pub const fn storable(self) -> Flags {
        Flags(self.0 & Self::STORABLE)
    }

    /// Parse a system flag name without its backslash (`Seen`), case-insensitively.
    /// `\Recent` cannot be stored and is refused, as are unknown names.
    pub fn from_system_name(name: &[u8]) -> Option<Flags> {
        [
            (&b"Seen"[..], Flags::SEEN),
            (b"Answered", Flags::ANSWERED),
            (b"Flagged", Flags::FLAGGED),
            (b"Deleted", Flags::DELETED),
            (b"Draft", Flags::DRAFT),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f)| f)
    }

    /// Maildir info letters (`:2,` suffix), in the sorted order Maildir wants:
    /// `D`raft, `F`lagged, `R`eplied (answered), `S`een, `T`rashed (deleted).
    pub fn to_maildir(self) -> String {
        let mut s = String::with_capacity(5);
        for (flag, letter) in MAILDIR_LETTERS {
            if self.contains(flag) {
                s.push(letter);
            }
        }
        s
    }

    /// Flags from Maildir info letters (unknown letters, e.g. `P`assed or
    /// Dovecot keywords `a`…`z`, are ignored).
    pub fn from_maildir(info: &str) -> Flags {
        info.chars().fold(Flags::empty(), |acc, c| {
            MAILDIR_LETTERS
                .iter()
                .find(|(_, l)| *l == c)
                .map_or(acc, |(f, _)| acc.union(*f))
        })
    }
}

const MAILDIR_LETTERS: [(Flags, char); 5] = [
    (Flags::DRAFT, 'D'),
    (Flags::FLAGGED, 'F'),
    (Flags::ANSWERED, 'R'),
    (Flags::SEEN, 'S'),
    (Flags::DELETED, 'T'),
];

impl fmt::Display for Flags {
    /// The IMAP flag list, e.g. `(\Seen \Deleted)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        let mut first = true;
        for (flag, name) in [
            (Flags::SEEN, "\\Seen"),
            (Flags::ANSWERED, "\\Answered"),
            (Flags::FLAGGED, "\\Flagged"),
            (Flags::DELETED, "\\Deleted"),
            (Flags::DRAFT, "\\Draft"),
            (Flags::RECENT, "\\Recent"),
        ] {
            if self.contains(flag) {
                if !first {
                    f.write_str(" ")?;
                }
                first = false;
                f.write_str(name)?;
            }
        }
        f.write_str(")")
    }
}

/// One message as the session sees it without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageMeta {
    /// The message's UID (strictly ascending within a mailbox view).
    pub uid: u32,
    /// Its flags.
    pub flags: Flags,
    /// INTERNALDATE, seconds since the Unix epoch (shown in UTC).
    pub internal_date: i64,
    /// RFC822.SIZE: the exact length of the bytes later handed to
    /// [`crate::ImapSession::message_content`] (store messages with CRLF line ends).
    pub size: u64,
}

/// A mailbox as the caller opens it for SELECT, EXAMINE or STATUS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxView {
    /// UIDVALIDITY (non-zero; the caller persists it).
    pub uid_validity: u32,
    /// UIDNEXT: greater than every UID in `messages`.
    pub uid_next: u32,
    /// The messages, in ascending UID order (message sequence numbers are positions + 1).
    pub messages: Vec<MessageMeta>,
}

impl MailboxView {
    /// Sort by UID and make `uid_next`/`uid_validity` consistent, so a sloppy
    /// caller cannot make the session answer nonsense.
    pub(crate) fn normalize(&mut self) {
        self.messages.sort_by_key(|m| m.uid);
        self.messages.dedup_by_key(|m| m.uid);
        self.messages.retain(|m| m.uid != 0);
        let max = self.messages.last().map_or(0, |m| m.uid);
        if self.uid_next <= max {
            self.uid_next = max.saturating_add(1);
        }
        if self.uid_validity == 0 {
            self.uid_validity = 1;
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// INTERNALDATE text: `"17-Jul-1996 02:44:25 +0000"` (quotes included).
pub fn format_internal_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} +0000\"",
        d,
        MONTH_NAMES[(m - 1) as usize],
        y.clamp(0, 9999),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_display_and_maildir() {
        let f = Flags::SEEN.union(Flags::DELETED);
        assert_eq!(f.to_string(), "(\\Seen \\Deleted)");
        assert_eq!(Flags::empty().to_string(), "()");
        assert_eq!(f.to_maildir(), "ST");
        assert_eq!(
            Flags::from_maildir("FRST"),
            f.union(Flags::FLAGGED).union(Flags::ANSWERED)
        );
        assert_eq!(Flags::from_maildir("Pa"), Flags::empty());
        assert_eq!(Flags::from_system_name(b"sEEn"), Some(Flags::SEEN));
        assert_eq!(Flags::from_system_name(b"Recent"), None);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(format_internal_date(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(
            format_internal_date(837_571_465),
            "\"17-Jul-1996 02:44:25 +0000\""
        );
        for days in [-1000, 0, 59, 60, 10_957, 20_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn normalize_fixes_uid_next() {
        let meta = |uid| MessageMeta {
            uid,
            flags: Flags::empty(),
            internal_date: 0,
            size: 1,
        };
        let mut v = MailboxView {
            uid_validity: 0,
            uid_next: 2,
            messages: vec![meta(5), meta(3), meta(5), meta(0)],
        };
        v.normalize();
        assert_eq!(v.messages.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!((v.uid_next, v.uid_validity), (6, 1));
    }
}
