//! A pool host's spool: the messages it could not get into JetStream, in a local append-only
//! file, sent in order once NATS answers again.
//!
//! `spool.log` holds records `[u32 LE length][u16 LE id length][id][body]`; `spool.pos` holds
//! the offset of the first record not yet acknowledged by the stream (u64 LE). Appends are
//! fsynced before anyone is told their message is durable. The position is written after each
//! acknowledged group without fsync: a crash may send a few records again, with the ids they
//! had, which JetStream's duplicate window and the ingest's id table both drop. When every
//! record is sent the files are emptied. A torn last record (a crash mid-append, before the
//! fsync, so nobody was told it was durable) is cut off at open.
//!
//! Owns only the files and their size limit; what to do when it is full is the caller's
//! ([`crate::config::feed::SpoolFull`]). Blocking file I/O: call it off the reactor.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest record accepted back from disk (a guard against a corrupt length).
const MAX_RECORD: u32 = 64 << 20;

/// One spooled message: its `Nats-Msg-Id` and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub id: String,
    pub body: Vec<u8>,
}

impl Spooled {
    fn record_len(&self) -> u64 {
        4 + 2 + self.id.len() as u64 + self.body.len() as u64
    }
}

/// The spool files of one pool host.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    log: File,
    /// Offset of the first unsent record.
    pos: u64,
    /// Length of the log (end of the last whole record).
    len: u64,
    /// Records between `pos` and `len`.
    records: u64,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, cutting off a torn last record.
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("spool.log"))?;
        let file_len = log.metadata()?.len();
        let pos = match std::fs::read(dir.join("spool.pos")) {
            Ok(bytes) if bytes.len() == 8 => {
                u64::from_le_bytes(bytes.try_into().unwrap_or_default()).min(file_len)
            }
            _ => 0,
        };
        // Walk the records from `pos` to find the last whole one.
        let mut at = pos;
        let mut records = 0;
        log.seek(SeekFrom::Start(at))?;
        let mut reader = std::io::BufReader::new(&log);
        while let Some(next) = read_record(&mut reader, file_len - at)? {
            at += next.record_len();
            records += 1;
        }
        drop(reader);
        if at < file_len {
            tracing::warn!(
                spool.torn_bytes = file_len - at,
                "cut a torn record off the end of the spool"
            );
            log.set_len(at)?;
            log.sync_all()?;
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            log,
            pos,
            len: at,
            records,
        })
    }

    /// Unsent bytes.
    pub fn bytes(&self) -> u64 {
        self.len - self.pos
    }

    /// Unsent records.
    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Appends `messages` in order and fsyncs.
    pub fn append(&mut self, messages: &[Spooled]) -> std::io::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for m in messages {
            let id_len = u16::try_from(m.id.len())
                .map_err(|_| std::io::Error::other("message id longer than 65535 bytes"))?;
            let len = u32::try_from(m.record_len())
                .ok()
                .filter(|l| *l <= MAX_RECORD)
                .ok_or_else(|| std::io::Error::other("message too large for the spool"))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&id_len.to_le_bytes());
            buf.extend_from_slice(m.id.as_bytes());
            buf.extend_from_slice(&m.body);
        }
        self.log.seek(SeekFrom::Start(self.len))?;
        self.log.write_all(&buf)?;
        self.log.sync_data()?;
        self.len += buf.len() as u64;
        self.records += messages.len() as u64;
        Ok(())
    }

    /// Up to `max` unsent records from the front, in order.
    pub fn peek(&mut self, max: usize) -> std::io::Result<Vec<Spooled>> {
        self.log.seek(SeekFrom::Start(self.pos))?;
        let mut reader = std::io::BufReader::new(&self.log);
        let mut out = Vec::new();
        let mut left = self.len - self.pos;
        while out.len() < max {
            match read_record(&mut reader, left)? {
                Some(record) => {
                    left -= record.record_len();
                    out.push(record);
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// Marks the first `sent` records (as returned by `peek`) as acknowledged; empties the
    /// files when nothing is left.
    pub fn advance(&mut self, sent: &[Spooled]) -> std::io::Result<()> {
        let bytes: u64 = sent.iter().map(Spooled::record_len).sum();
        self.pos = (self.pos + bytes).min(self.len);
        self.records = self.records.saturating_sub(sent.len() as u64);
        if self.records == 0 {
            self.log.set_len(0)?;
            self.log.sync_all()?;
            self.pos = 0;
            self.len = 0;
        }
        std::fs::write(self.dir.join("spool.pos"), self.pos.to_le_bytes())
    }
}

/// Reads one record if `left` bytes hold a whole, sane one.
fn read_record(reader: &mut impl Read, left: u64) -> std::io::Result<Option<Spooled>> {
    if left < 6 {
        return Ok(None);
    }
    let mut head = [0u8; 6];
    reader.read_exact(&mut head)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let id_len = u16::from_le_bytes([head[4], head[5]]);
    if len > MAX_RECORD || u64::from(len) > left || len < 6 + u32::from(id_len) {
        return Ok(None);
    }
    let mut rest = vec![0u8; len as usize - 6];
    reader.read_exact(&mut rest)?;
    let body = rest.split_off(usize::from(id_len));
    let Ok(id) = String::from_utf8(rest) else {
        return Ok(None);
    };
    Ok(Some(Spooled { id, body }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: usize) -> Spooled {
        Spooled {
            id: format!("7-ab-{n}"),
            body: vec![u8::try_from(n % 256).unwrap(); n * 10],
        }
    }

    #[test]
    fn records_come_back_in_order_across_reopens_and_the_files_empty_when_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        let all: Vec<Spooled> = (1..=5).map(msg).collect();
        spool.append(&all[..3]).unwrap();
        spool.append(&all[3..]).unwrap();
        let first = spool.peek(2).unwrap();
        assert_eq!(first, all[..2]);
        spool.advance(&first).unwrap();
        drop(spool);
        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.records(), 3);
        assert_eq!(spool.peek(10).unwrap(), all[2..]);
        let rest = spool.peek(10).unwrap();
        spool.advance(&rest).unwrap();
        assert!(spool.is_empty());
        assert_eq!(
            std::fs::metadata(dir.path().join("spool.log"))
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn a_torn_last_record_is_cut_off_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        spool.append(&[msg(1), msg(2)]).unwrap();
        let whole = spool.bytes();
        drop(spool);
        let mut log = OpenOptions::new()
            .append(true)
            .open(dir.path().join("spool.log"))
            .unwrap();
        // A length that promises more than was written, as after a crash mid-append.
        log.write_all(&[200, 0, 0, 0, 2, 0, b'i', b'd']).unwrap();
        drop(log);
        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!((spool.records(), spool.bytes()), (2, whole));
        assert_eq!(spool.peek(10).unwrap(), vec![msg(1), msg(2)]);
        spool.append(&[msg(3)]).unwrap();
        assert_eq!(spool.peek(10).unwrap().len(), 3);
    }
}
