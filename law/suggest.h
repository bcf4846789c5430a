// Which (layers, d_model) points to train next, per group: what the law still needs to know to
// pin the optimum. Three rules, in this order, until the budget is spent (docs/law.md, "Suggesting
// the next points"):
//   extend   an axis whose best observed value is the grid's edge: the next value on the axis's
//            own spacing, at the best observed value of the other axis and its grid neighbours;
//   shrink   near an identified optimum: among candidate points inside the optimum's interval,
//   those
//            where the bootstrap fits disagree most (the widest prediction interval);
//   bracket  an axis that is neither at an edge nor pinned: values halfway (geometrically) between
//            the best observed value and its grid neighbours.
// A point already in the group's rows is never proposed.
#pragma once

#include <string>
#include <vector>

#include "law/data.h"
#include "law/forms.h"
#include "law/pipeline.h"

namespace perflaw::law {

struct SuggestOptions {
  int budget = 4;  // new points per group, at most
  // The shrink rule's candidates: this many values per axis, geometric across the optimum's
  // interval (and the grid's range on an axis that is not pinned).
  int candidates_per_axis = 9;
  // Proposed d_model values are multiples of this (attention heads must divide d_model).
  int d_model_multiple = 8;
  bool IsValid(std::string* why) const;
};

struct Suggestion {
  double layers = NAN, d_model = NAN;
  std::string rule;    // "extend", "shrink" or "bracket"
  std::string reason;  // in words
};

// Starts as "not run"; `note` says why there are fewer points than the budget.
struct GroupSuggestions {
  GroupKey key;
  bool ran = false;
  std::vector<Suggestion> points;
  std::string note = "not run";
};

// The suggestions for one fitted group (`form` is the group's fitted form).
GroupSuggestions Suggest(const GroupFit& group, const Form& form, const SuggestOptions& options);

}  // namespace perflaw::law
