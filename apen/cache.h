// perflaw's binary dataset file: the cache payload, and an input format of its own
// (Format::kBinary, written by `perflaw data synth --format binary`).
//
// Layout, little-endian:
//   header, 96 bytes: magic "PFLWDATA" | u32 version | u32 flags (bit 0: raw ids present)
//     | u64 source_hash | u64 key_hash | u64 num_users | u64 num_interactions | u32 num_items
//     | u32 reserved (0) | u64 payload_bytes | u64 payload_checksum | u64 reserved[2] (0)
//     | u64 header_checksum
//   payload: u64 offsets[num_users + 1] | u32 items[num_interactions]
//     | strings, each u32 length + bytes: options, source_path, then when flag bit 0 is set
//       num_users user ids and num_items item ids.
// payload_checksum covers the payload, header_checksum the 88 header bytes before it; a file
// failing any check, or whose offsets/items are inconsistent, is reported as Corruption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "apen/dataset.h"
#include "apen/status.h"

namespace perflaw::apen {

inline constexpr char kBinaryMagic[8] = {'P', 'F', 'L', 'W', 'D', 'A', 'T', 'A'};
inline constexpr uint32_t kBinaryVersion = 1;
inline constexpr size_t kBinaryHeaderSize = 96;

// Whether `data` starts with the binary dataset magic.
bool HasBinaryMagic(const char* data, size_t size);

// Writes `dataset` atomically (temp file in the same directory, then rename), stamping
// `key_hash` (0 for plain binary files). Creates no directories.
Status WriteBinaryDataset(const std::string& path, const Dataset& dataset, uint64_t key_hash);

// Reads a binary dataset; *key_hash (if given) receives the stamped key hash. NotFound when the
// file cannot be opened, InvalidArgument when it is not a regular file, Corruption when any
// check fails (the message says which). The header's counts are checked against the file size
// before anything is allocated, so a forged header cannot make it allocate more than the file.
StatusOr<Dataset> ReadBinaryDataset(const std::string& path, uint64_t* key_hash = nullptr);

// Writes `dataset` as a SASRec text file (`user item` per line, users numbered 1..U in order),
// atomically.
Status WriteSasrecDataset(const std::string& path, const Dataset& dataset);

}  // namespace perflaw::apen
