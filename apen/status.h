// perflaw's one error type at module boundaries (after LevelDB's status.h).
//
// It lives in apen/ because apen/ is the lowest layer that every other part (law/, worker/,
// orchestrator/) already depends on; it is header-only and has no dependencies.
#pragma once

#include <string>
#include <utility>

namespace perflaw {

class Status {
 public:
  // What went wrong, coarse enough for callers to branch on.
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // bad user input: options, files, YAML, CSV. CLI exit code 2.
    kNotFound,         // a file or record that should exist does not. CLI exit code 2.
    kCorruption,       // a file exists but its content is damaged (e.g. a stale cache).
    kIoError,          // the OS refused a read or write.
    kFailedPrecondition,  // valid input that cannot be processed (e.g. too few points).
    kInternal,         // a bug or an exception from a library, caught at the edge.
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IoError(std::string msg) { return {Code::kIoError, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) {
    return {Code::kFailedPrecondition, std::move(msg)};
  }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // True for errors caused by what the user gave us; the CLI maps these to exit code 2.
  bool IsUserError() const {
    return code_ == Code::kInvalidArgument || code_ == Code::kNotFound ||
           code_ == Code::kFailedPrecondition;
  }

  std::string ToString() const {
    if (ok()) return "OK";
    return CodeName(code_) + std::string(": ") + message_;
  }

  static const char* CodeName(Code code) {
    switch (code) {
      case Code::kOk: return "OK";
      case Code::kInvalidArgument: return "invalid argument";
      case Code::kNotFound: return "not found";
      case Code::kCorruption: return "corruption";
      case Code::kIoError: return "I/O error";
      case Code::kFailedPrecondition: return "failed precondition";
      case Code::kInternal: return "internal error";
    }
    return "unknown";
  }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status explaining why there is none.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : status_(), value_(std::move(value)), has_value_(true) {}  // NOLINT
  StatusOr(Status status) : status_(std::move(status)) {}                       // NOLINT
  bool ok() const { return has_value_; }
  const Status& status() const { return status_; }
  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T& operator*() & { return value_; }
  const T& operator*() const& { return value_; }

 private:
  Status status_;
  T value_{};
  bool has_value_ = false;
};

}  // namespace perflaw

// Returns early from the enclosing function with the status if it is not OK.
#define PERFLAW_RETURN_IF_ERROR(expr)        \
  do {                                       \
    ::perflaw::Status _st = (expr);          \
    if (!_st.ok()) return _st;               \
  } while (0)
