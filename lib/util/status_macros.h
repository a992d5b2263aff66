// Early-return helpers for absl::Status / absl::StatusOr, in the style of Abseil's
// internal macros (which are not exported by Debian's libabsl).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FP_STATUS_CONCAT_INNER(a, b) a##b
#define FP_STATUS_CONCAT(a, b) FP_STATUS_CONCAT_INNER(a, b)

// FP_RETURN_IF_ERROR(expr): returns the status of expr from the enclosing function if not ok.
#define FP_RETURN_IF_ERROR(expr)                   \
  do {                                             \
    ::absl::Status fp_status_ = (expr);            \
    if (!fp_status_.ok()) return fp_status_;       \
  } while (false)

// FP_ASSIGN_OR_RETURN(lhs, expr): lhs = *expr, or returns expr's status if not ok.
#define FP_ASSIGN_OR_RETURN(lhs, expr) \
  FP_ASSIGN_OR_RETURN_IMPL(FP_STATUS_CONCAT(fp_statusor_, __LINE__), lhs, expr)
#define FP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
