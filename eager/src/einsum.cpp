// einsum as a composition of existing ops: squeeze/sum for broadcast and summed subscripts,
// permute + reshape + one batched matmul (or mul, when nothing is contracted) per pair.
#include "doppel/ops/einsum.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "doppel/ops/elementwise.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {
namespace {

// Letters are labels 0..51 (A-Z, then a-z: the implicit output's order, as in PyTorch and
// numpy); the ellipsis dims get the labels from kEllipsis on.
constexpr int kEllipsis = 52;

int letter_label(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

char label_char(int l) { return l < 26 ? char('A' + l) : char('a' + (l - 26)); }

// One side of the equation's terms: the letters before and after "...", if any.
struct Term {
  std::vector<int> before, after;
  bool ellipsis = false;
};

Term parse_term(std::string_view eq, std::string_view term, const std::string& which) {
  Term t;
  for (size_t i = 0; i < term.size(); ++i) {
    const char c = term[i];
    if (c == '.') {
      DOPPEL_CHECK(term.substr(i, 3) == "..." && !t.ellipsis,
                   "einsum(): {} of equation '{}' has a '.' that is not part of one '...'", which, eq);
      t.ellipsis = true;
      i += 2;
      continue;
    }
    const int l = letter_label(c);
    DOPPEL_CHECK(l >= 0, "einsum(): invalid subscript '{}' in {} of equation '{}'; subscripts are letters a-z, A-Z", c,
                 which, eq);
    (t.ellipsis ? t.after : t.before).push_back(l);
  }
  return t;
}

// A tensor and the label of each of its dims (distinct).
struct Labeled {
  Tensor t;
  std::vector<int> labels;
  bool has(int l) const { return std::find(labels.begin(), labels.end(), l) != labels.end(); }
};

// Sums the dims whose label fails keep(label).
template <class Keep>
void sum_unless(Labeled& x, Keep keep) {
  std::vector<int64_t> dims;
  std::vector<int> rest;
  for (size_t d = 0; d < x.labels.size(); ++d) {
    if (keep(x.labels[d]))
      rest.push_back(x.labels[d]);
    else
      dims.push_back(int64_t(d));
  }
  if (dims.empty()) return;
  x.t = sum(x.t, dims);
  x.labels = rest;
}

// x permuted so that its labels read `order` (a permutation of x.labels).
Tensor permuted(const Labeled& x, const std::vector<int>& order) {
  std::vector<int64_t> perm;
  for (int l : order) perm.push_back(std::find(x.labels.begin(), x.labels.end(), l) - x.labels.begin());
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == int64_t(i);
  return identity ? x.t : permute(x.t, perm);
}

// Contracts a pair: `keep(l)` says whether label l is still needed (by the output or a later
// operand). Shared kept labels are batch dims, shared others are summed by the matmul.
template <class Keep>
Labeled contract(Labeled a, Labeled b, const std::array<int64_t, kEllipsis + 64>& size, Keep keep) {
  sum_unless(a, [&](int l) { return keep(l) || b.has(l); });
  sum_unless(b, [&](int l) { return keep(l) || a.has(l); });
  std::vector<int> batch, summed, left, right;
  for (int l : a.labels) (b.has(l) ? (keep(l) ? batch : summed) : left).push_back(l);
  for (int l : b.labels)
    if (!a.has(l)) right.push_back(l);
  auto numel = [&](const std::vector<int>& ls) {
    int64_t n = 1;
    for (int l : ls) n *= size[size_t(l)];
    return n;
  };
  auto concat = [](std::vector<int> x, const std::vector<int>& y) {
    x.insert(x.end(), y.begin(), y.end());
    return x;
  };
  const int64_t nb = numel(batch), nl = numel(left), nk = numel(summed), nr = numel(right);
  Tensor ta = reshape(permuted(a, concat(concat(batch, left), summed)), {nb, nl, nk});
  Tensor tb = reshape(permuted(b, concat(concat(batch, summed), right)), {nb, nk, nr});
  Tensor prod = summed.empty() ? mul(ta, tb) : matmul(ta, tb);
  Labeled out{Tensor{}, concat(concat(batch, left), right)};
  std::vector<int64_t> shape;
  for (int l : out.labels) shape.push_back(size[size_t(l)]);
  out.t = reshape(prod, shape);
  return out;
}

// A subscript repeated within one operand ("ii->i") takes the diagonal of its dims (a view,
// appended as the last dim), until every subscript of the operand is distinct.
void take_diagonals(Labeled& x, size_t k, std::string_view eq) {
  for (size_t d1 = 0; d1 < x.labels.size(); ++d1) {
    const auto d2 = size_t(std::find(x.labels.begin() + d1 + 1, x.labels.end(), x.labels[d1]) - x.labels.begin());
    if (d2 == x.labels.size()) continue;
    const int l = x.labels[d1];
    DOPPEL_CHECK_SHAPE(x.t.size(int64_t(d1)) == x.t.size(int64_t(d2)),
                       "einsum(): subscript '{}' is repeated for operand {} of '{}' but the sizes don't match, {} != {}",
                       label_char(l), k, eq, x.t.size(int64_t(d1)), x.t.size(int64_t(d2)));
    x.t = diagonal(x.t, 0, int64_t(d1), int64_t(d2));
    x.labels.erase(x.labels.begin() + int64_t(d2));
    x.labels.erase(x.labels.begin() + int64_t(d1));
    x.labels.push_back(l);
    d1 = size_t(-1);  // start over: the dims moved
  }
}

}  // namespace

Tensor einsum(std::string_view equation, TensorList operands, SourceLoc loc) {
  CallSiteScope s(loc);
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq.push_back(c);
  const size_t arrow = eq.find("->");
  const std::string_view lhs = std::string_view(eq).substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(parse_term(equation, lhs.substr(start, comma - start), "operand " + std::to_string(terms.size())));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  DOPPEL_CHECK(terms.size() == operands.size(),
               "einsum(): equation '{}' has {} operand subscripts but {} tensors were given", equation, terms.size(),
               operands.size());

  // The labels of every operand's dims; ellipsis dims right-aligned across operands.
  int64_t n_ell = 0;
  for (size_t k = 0; k < terms.size(); ++k) {
    const Term& t = terms[k];
    const int64_t letters = int64_t(t.before.size() + t.after.size());
    const int64_t ndim = operands[k].dim();
    DOPPEL_CHECK_SHAPE(t.ellipsis ? ndim >= letters : ndim == letters,
                       "einsum(): operand {} has {} dims (shape {}) but its subscripts in '{}' name {}{}", k, ndim,
                       shape_str(operands[k].shape()), equation, letters, t.ellipsis ? " plus '...'" : "");
    if (t.ellipsis) n_ell = std::max(n_ell, ndim - letters);
  }
  std::array<int64_t, kEllipsis + 64> size{};  // -1: not seen yet
  size.fill(-1);
  DOPPEL_CHECK_SHAPE(n_ell <= 64, "einsum(): '...' covers {} dims; at most 64 are supported", n_ell);
  std::vector<Labeled> ops;
  std::array<int, kEllipsis + 64> count{};
  for (size_t k = 0; k < terms.size(); ++k) {
    const Term& t = terms[k];
    Labeled x{operands[k], t.before};
    const int64_t e = operands[k].dim() - int64_t(t.before.size() + t.after.size());
    for (int64_t i = 0; i < e; ++i) x.labels.push_back(kEllipsis + int(n_ell - e + i));
    x.labels.insert(x.labels.end(), t.after.begin(), t.after.end());
    for (int l : x.labels) ++count[size_t(l)];
    take_diagonals(x, k, equation);
    for (size_t d = 0; d < x.labels.size(); ++d) {
      const int l = x.labels[d];
      const int64_t n = x.t.shape()[d];
      int64_t& seen = size[size_t(l)];
      DOPPEL_CHECK_SHAPE(seen == -1 || seen == 1 || n == 1 || n == seen,
                         "einsum(): subscript {} has size {} for operand {} which does not broadcast with previously "
                         "seen size {}",
                         l < kEllipsis ? std::string(1, label_char(l)) : std::string("'...'"), n, k, seen);
      if (seen == -1 || seen == 1) seen = n;
    }
    ops.push_back(std::move(x));
  }

  // The output's labels.
  std::vector<int> out;
  if (arrow == std::string::npos) {
    for (int64_t i = 0; i < n_ell; ++i) out.push_back(kEllipsis + int(i));
    for (int l = 0; l < kEllipsis; ++l)
      if (count[size_t(l)] == 1) out.push_back(l);
  } else {
    const Term t = parse_term(equation, std::string_view(eq).substr(arrow + 2), "the output");
    out = t.before;
    if (t.ellipsis)
      for (int64_t i = 0; i < n_ell; ++i) out.push_back(kEllipsis + int(i));
    out.insert(out.end(), t.after.begin(), t.after.end());
    for (size_t i = 0; i < out.size(); ++i) {
      const int l = out[i];
      if (l >= kEllipsis) continue;
      DOPPEL_CHECK(count[size_t(l)] > 0, "einsum(): output subscript '{}' of '{}' appears in no operand", label_char(l),
                   equation);
      DOPPEL_CHECK(std::count(out.begin(), out.end(), l) == 1, "einsum(): output subscript '{}' of '{}' is repeated",
                   label_char(l), equation);
    }
  }
  const auto in_out = [&](int l) { return std::find(out.begin(), out.end(), l) != out.end(); };

  // A size-1 dim against a larger size broadcasts: the same as not having that label.
  for (Labeled& x : ops) {
    for (int64_t d = x.t.dim() - 1; d >= 0; --d) {
      const int l = x.labels[size_t(d)];
      if (x.t.shape()[size_t(d)] == 1 && size[size_t(l)] != 1) {
        x.t = squeeze(x.t, d);
        x.labels.erase(x.labels.begin() + d);
      }
    }
  }
  Labeled acc = ops[0];
  for (size_t k = 1; k < ops.size(); ++k) {
    acc = contract(std::move(acc), ops[k], size, [&](int l) {
      if (in_out(l)) return true;
      for (size_t j = k + 1; j < ops.size(); ++j)
        if (ops[j].has(l)) return true;
      return false;
    });
  }
  sum_unless(acc, in_out);
  return permuted(acc, out);
}

}  // namespace doppel
