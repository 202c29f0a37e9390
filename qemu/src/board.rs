//! A board's build and QEMU settings: `board/<name>/board.toml`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// `board.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// The rustc target PD programs are built for.
    pub rust_target: String,
    /// How QEMU runs it; `None` for a physical board.
    pub qemu: Option<Qemu>,
    /// psdb's disk (the virtio-blk transport and its interrupt); `None`:
    /// psdb keeps the store in memory on this board.
    pub disk: Option<sysgen::DiskDevice>,
}

/// `[qemu]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qemu {
    /// Debian packages providing it (`make qemu-setup` installs them).
    #[serde(default)]
    pub packages: Vec<String>,
    /// The QEMU program.
    pub command: String,
    /// Its arguments; `{image}` stands for the loader image.
    pub args: Vec<String>,
    /// Arguments added to count instructions (`-icount`).
    #[serde(default)]
    pub icount: Vec<String>,
    /// Arguments attaching the disk image; `{disk}` stands for its path.
    #[serde(default)]
    pub disk: Vec<String>,
    /// The same, for a device that offers no cache flush (the driver must
    /// refuse it).
    #[serde(default)]
    pub disk_without_flush: Vec<String>,
}

impl Board {
    /// Reads `dir/board.toml`.
    pub fn load(dir: &Path) -> Result<Board> {
        let path = dir.join("board.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The board named `name` under `boards` (a directory holding one
    /// directory per board).
    pub fn named(boards: &Path, name: &str) -> Result<(PathBuf, Board)> {
        let dir = boards.join(name);
        Ok((dir.clone(), Board::load(&dir)?))
    }
}

impl Qemu {
    /// The command line booting `image` with `disk` attached, with
    /// instruction counting if asked.
    pub fn command_line(
        &self,
        image: &Path,
        disk: Option<&Path>,
        icount: bool,
    ) -> (String, Vec<String>) {
        self.command_line_with(image, disk.map(|d| (d, &self.disk[..])), icount)
    }

    /// The command line attaching `disk` as a device without a cache flush.
    pub fn command_line_without_flush(&self, image: &Path, disk: &Path) -> (String, Vec<String>) {
        self.command_line_with(image, Some((disk, &self.disk_without_flush[..])), false)
    }

    fn command_line_with(
        &self,
        image: &Path,
        disk: Option<(&Path, &[String])>,
        icount: bool,
    ) -> (String, Vec<String>) {
        let image = image.to_string_lossy();
        let mut args: Vec<String> =
            self.args.iter().map(|a| a.replace("{image}", &image)).collect();
        if let Some((d, how)) = disk {
            let d = d.to_string_lossy();
            args.extend(how.iter().map(|a| a.replace("{disk}", &d)));
        }
        if icount {
            args.extend(self.icount.iter().cloned());
        }
        (self.command.clone(), args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn every_board_in_the_repository_loads() {
        let (_, b) = Board::named(&root().join("board"), "qemu_virt_aarch64").unwrap();
        assert_eq!(b.rust_target, "aarch64-unknown-none");
        let (cmd, args) = b.qemu.as_ref().unwrap().command_line(
            Path::new("build/loader.img"),
            Some(Path::new("build/disk.img")),
            true,
        );
        assert_eq!(cmd, "qemu-system-aarch64");
        assert!(args.contains(&"loader,file=build/loader.img,addr=0x70000000,cpu-num=0".into()));
        assert_eq!(args[args.len() - 2..], ["-icount", "shift=0"]);
        let drive = [
            "-drive",
            "file=build/disk.img,format=raw,if=none,id=hd0",
            "-device",
            "virtio-blk-device,drive=hd0",
        ];
        assert!(args.windows(4).any(|w| w == drive), "{args:?}");
        assert_eq!(b.disk.unwrap().mmio, 0x0a00_3e00);
        let (_, b) = Board::named(&root().join("board"), "qemu_virt_riscv64").unwrap();
        assert_eq!(b.rust_target, "riscv64gc-unknown-none-elf");
        assert!(b.disk.is_some());
        let (_, b) = Board::named(&root().join("board"), "odroidc4").unwrap();
        assert!(b.qemu.is_none() && b.disk.is_none());
        assert!(Board::named(&root().join("board"), "nonesuch").is_err());
    }
}
