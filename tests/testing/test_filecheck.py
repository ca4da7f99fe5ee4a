"""The in-house FileCheck: every directive must pass when it should and fail when not."""

from __future__ import annotations

import pytest

from qcc.testing import FileCheckError, filecheck
from qcc.testing.golden import parse_run_line, split_input_file

OUT = """\
module {
  func.func @main(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>) {
    %w = "nn.constant"() {value = dense<1.0> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %0 = "nn.matmul"(%x, %w) : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
    %1 = "nn.relu"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32>

    return %1 : tensor<1x4xf32>
  }
  func.func @other(%y: tensor<2xf32>) -> (tensor<2xf32>) {
    %0 = "nn.relu"(%y) : (tensor<2xf32>) -> tensor<2xf32>
    %1 = "nn.relu"(%0) : (tensor<2xf32>) -> tensor<2xf32>
    return %1 : tensor<2xf32>
  }
}
"""


def check(directives: str, output: str = OUT, **kw) -> None:
    filecheck(output, directives, **kw)


def fails(directives: str, output: str = OUT, match: str | None = None, **kw) -> str:
    with pytest.raises(FileCheckError, match=match) as info:
        filecheck(output, directives, **kw)
    return str(info.value)


# --------------------------------------------------------------------------- CHECK


def test_check_finds_substrings_in_order():
    check("// CHECK: func.func @main\n// CHECK: nn.matmul\n// CHECK: return %1")


def test_check_may_match_on_the_same_line_after_the_previous_match():
    check('// CHECK: %0 = "nn.matmul"\n// CHECK: (tensor<1x4xf32>, tensor<4x4xf32>)')


def test_check_fails_when_pattern_is_absent():
    msg = fails("// CHECK: nn.conv2d", check_file="t.mlir")
    assert "t.mlir:1: CHECK: nn.conv2d" in msg
    assert "expected pattern not found" in msg
    assert "searched output lines 1-" in msg


def test_check_fails_when_out_of_order():
    fails("// CHECK: nn.relu\n// CHECK: nn.matmul")


def test_check_does_not_rematch_text_before_the_previous_match():
    # "tensor<1x4xf32>" occurs before the relu on that line, but not after it
    fails('// CHECK: %1 = "nn.relu"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32>\n'
          "// CHECK: nn.matmul")


def test_error_names_the_check_file_line_with_first_line_offset():
    msg = fails("\n\n// CHECK: nope", check_file="g.mlir", first_line=10)
    assert msg.startswith("g.mlir:12: CHECK: nope")


def test_no_directives_is_an_error():
    fails("no directives here", match="no positive")
    fails("// CHECK-NOT: foo", match="no positive")
    fails("// OTHER: foo", match="no positive")


def test_unknown_directive_suffix_is_an_error():
    fails("// CHECK-NXT: foo", match="unknown directive 'CHECK-NXT:'")
    fails("// CHECK-COUNT-0: foo", match="unknown directive")


def test_empty_pattern_is_an_error():
    fails("// CHECK:", match="empty pattern")
    fails("// CHECK: module\n// CHECK-EMPTY: x", match="takes no pattern")


def test_custom_prefix():
    check("// CHECK: nothing-like-this\n// MAIN: @main", prefix="MAIN")
    fails("// MAIN: @absent", prefix="MAIN")


# --------------------------------------------------------------------------- whitespace


def test_whitespace_runs_match_any_horizontal_whitespace():
    check('// CHECK:     %0   =    "nn.matmul"(%x,\t%w)   ')
    check("// CHECK: a b", output="a \t  b\n")


def test_whitespace_is_required_where_the_pattern_has_it():
    fails("// CHECK: a b", output="ab\n")


def test_whitespace_does_not_match_newlines():
    fails("// CHECK: a b", output="a\nb\n")


# --------------------------------------------------------------------------- CHECK-NEXT


def test_next_on_the_following_line():
    check("// CHECK: nn.matmul\n// CHECK-NEXT: nn.relu")


def test_next_fails_when_two_lines_later():
    msg = fails('// CHECK: "nn.constant"\n// CHECK-NEXT: nn.relu')
    assert "CHECK-NEXT: nn.relu" in msg
    # the searched region is the next line only
    assert "searched output lines 4-4" in msg


def test_next_fails_on_the_same_line():
    fails("// CHECK: %0 = \n// CHECK-NEXT: nn.matmul")


def test_next_needs_a_previous_match():
    fails("// CHECK-NEXT: module", match="previous match")


def test_next_after_the_last_line_fails():
    fails("// CHECK: }\n// CHECK: }\n// CHECK: }\n// CHECK: }\n// CHECK-NEXT: x",
          match="no line follows")


# --------------------------------------------------------------------------- CHECK-SAME


def test_same_on_the_same_line_after_the_match():
    check('// CHECK: "nn.matmul"\n// CHECK-SAME: %x, %w\n// CHECK-SAME: -> tensor<1x4xf32>')


def test_same_fails_on_a_later_line():
    fails('// CHECK: "nn.matmul"\n// CHECK-SAME: nn.relu')


def test_same_fails_before_the_previous_match():
    fails('// CHECK: "nn.matmul"\n// CHECK-SAME: %0 =')


def test_same_needs_a_previous_match():
    fails("// CHECK-SAME: module", match="previous match")


# --------------------------------------------------------------------------- CHECK-NOT


def test_not_between_matches_passes_when_absent():
    check("// CHECK: nn.constant\n// CHECK-NOT: nn.conv2d\n// CHECK: nn.relu")


def test_not_between_matches_fails_when_present():
    msg = fails("// CHECK: nn.constant\n// CHECK-NOT: nn.matmul\n// CHECK: nn.relu")
    assert "CHECK-NOT: nn.matmul" in msg
    assert "excluded pattern found at output line 4" in msg


def test_not_only_covers_the_region_between_matches():
    # nn.matmul occurs, but before the first match and after the second
    check("// CHECK: nn.relu\n// CHECK-NOT: nn.matmul\n// CHECK: return")
    check("// CHECK-NOT: nn.relu\n// CHECK: nn.matmul")


def test_not_at_the_end_covers_the_rest():
    check("// CHECK: @other\n// CHECK-NOT: nn.matmul")
    fails("// CHECK: @main\n// CHECK-NOT: nn.relu")


def test_not_at_the_start_covers_up_to_the_first_match():
    fails("// CHECK-NOT: module\n// CHECK: @main")


def test_not_before_next_ends_at_the_next_match():
    check("// CHECK: nn.matmul\n// CHECK-NOT: nn.relu\n// CHECK-NEXT: nn.relu")
    fails('// CHECK: "nn.constant"\n// CHECK-NOT: nn.matmul\n// CHECK: nn.relu')


def test_several_nots_are_all_checked():
    fails("// CHECK: @main\n// CHECK-NOT: conv\n// CHECK-NOT: matmul\n// CHECK: return")


# --------------------------------------------------------------------------- CHECK-EMPTY


def test_empty_matches_an_empty_next_line():
    check("// CHECK: nn.relu\n// CHECK-EMPTY:\n// CHECK-NEXT: return %1")


def test_empty_fails_on_a_non_empty_line():
    fails("// CHECK: nn.matmul\n// CHECK-EMPTY:", match="not empty")


def test_empty_does_not_match_the_end_after_a_final_newline():
    fails("// CHECK: x\n// CHECK-EMPTY:", output="x\n", match="no line follows")
    check("// CHECK: x\n// CHECK-EMPTY:", output="x\n\n")


# --------------------------------------------------------------------------- CHECK-COUNT


def test_count_matches_n_times():
    check("// CHECK-LABEL: @other\n// CHECK-COUNT-2: nn.relu\n// CHECK: return")
    check("// CHECK-COUNT-3: nn.relu")


def test_count_fails_with_too_few_matches():
    msg = fails("// CHECK-LABEL: @other\n// CHECK-COUNT-3: nn.relu")
    assert "CHECK-COUNT-3: nn.relu" in msg


def test_count_with_not_before():
    check("// CHECK: @other\n// CHECK-NOT: nn.matmul\n// CHECK-COUNT-2: nn.relu")
    fails("// CHECK: @main\n// CHECK-NOT: nn.matmul\n// CHECK-COUNT-2: nn.relu")


# --------------------------------------------------------------------------- CHECK-LABEL


def test_labels_split_the_output_into_blocks():
    check("// CHECK-LABEL: @main\n// CHECK: nn.relu\n// CHECK-LABEL: @other\n"
          "// CHECK: nn.relu\n// CHECK-NEXT: nn.relu")


def test_a_check_cannot_match_past_the_next_label():
    # nn.relu twice in a row exists only in @other; the @main block must not see it
    msg = fails("// CHECK-LABEL: @main\n// CHECK: nn.relu\n// CHECK-NEXT: nn.relu\n"
                "// CHECK-LABEL: @other")
    assert "CHECK-NEXT: nn.relu" in msg
    fails("// CHECK-LABEL: @main\n// CHECK-COUNT-3: nn.relu\n// CHECK-LABEL: @other")


def test_not_ends_at_the_next_label():
    check("// CHECK-LABEL: @other\n// CHECK-NOT: matmul\n// CHECK-LABEL: }")
    fails("// CHECK-LABEL: @main\n// CHECK-NOT: matmul\n// CHECK-LABEL: @other")


def test_missing_label_fails():
    fails("// CHECK-LABEL: @main\n// CHECK-LABEL: @missing", match="CHECK-LABEL: @missing")


def test_labels_must_be_in_order():
    fails("// CHECK-LABEL: @other\n// CHECK-LABEL: @main")


def test_next_right_after_a_label():
    check("// CHECK-LABEL: @other\n// CHECK-NEXT: nn.relu\n// CHECK-NEXT: nn.relu")
    fails("// CHECK-LABEL: @main\n// CHECK-NEXT: nn.matmul")


def test_directives_before_the_first_label_stay_before_it():
    check("// CHECK: module\n// CHECK-LABEL: @main")
    fails("// CHECK: nn.relu\n// CHECK-LABEL: @main")


def test_variables_are_not_allowed_in_labels():
    fails("// CHECK-LABEL: [[F:@[a-z]+]]", match="not allowed")


# --------------------------------------------------------------------------- regex


def test_regex_blocks():
    check('// CHECK: %{{[0-9]+}} = "nn.{{mat|conv}}mul"')
    check("// CHECK: tensor<{{([0-9]+x)+}}f32>")
    fails('// CHECK: %{{[0-9]+}} = "nn.constant"')


def test_literal_text_is_not_a_regex():
    check("// CHECK: (tensor<1x4xf32>, tensor<4x4xf32>)")
    fails("// CHECK: nn.rel.", output="nn.relu\n")
    fails("// CHECK: a+", output="aa\n")


def test_regex_with_closing_braces():
    check("// CHECK: {{[0-9]{2}}}", output="x = 42\n")
    fails("// CHECK: = {{[0-9]{3}}}", output="x = 42\n")


def test_regex_dot_does_not_cross_lines():
    fails("// CHECK: matmul{{.*}}nn.relu")


def test_bad_regex_is_reported():
    # reported even when an earlier directive fails
    msg = fails("// CHECK: nope\n// CHECK: {{(}}", check_file="f.mlir", match="bad regex")
    assert "f.mlir:2: CHECK: {{(}}" in msg
    fails("// CHECK: {{abc", match="unclosed")


# --------------------------------------------------------------------------- variables


def test_capture_and_reuse():
    check('// CHECK: %[[M:[0-9]+]] = "nn.matmul"\n// CHECK-NEXT: "nn.relu"(%[[M]])')
    check("// CHECK: %[[W:[a-z]+]] = \"nn.constant\"\n// CHECK: (%x, %[[W]])")


def test_reuse_must_match_the_captured_text():
    msg = fails('// CHECK: %[[M:[0-9]+]] = "nn.matmul"\n// CHECK: return %[[M]]')
    assert "M = '0'" in msg


def test_capture_with_brackets_in_its_regex():
    check("// CHECK: tensor<[[SHAPE:[0-9x]+]]f32>) -> tensor<[[SHAPE]]f32>",
          output="(tensor<1x4xf32>) -> tensor<1x4xf32>\n")
    fails("// CHECK: tensor<[[SHAPE:[0-9x]+]]f32>) -> tensor<[[SHAPE]]f32>",
          output="(tensor<1x4xf32>) -> tensor<4x4xf32>\n")


def test_reuse_within_the_same_pattern():
    check("// CHECK: [[A:[a-z]+]]-[[A]]", output="xy-ab-ab\n")
    fails("// CHECK: [[A:[a-z]+]]-[[A]]!", output="ab-ac!\n")


def test_captured_text_is_matched_literally():
    check("// CHECK: [[V:a.c]]\n// CHECK: [[V]]", output="a.c\na.c\n")
    fails("// CHECK: [[V:a.c]]\n// CHECK: [[V]]", output="a.c\nabc\n")


def test_variables_can_be_redefined():
    check("// CHECK: [[V:[0-9]]]\n// CHECK: [[V:[a-z]]]\n// CHECK-NEXT: [[V]][[V]]",
          output="1\nb\nbb\n")


def test_undefined_variable_is_an_error():
    fails("// CHECK: [[NOPE]]", match=r"undefined variable \[\[NOPE\]\]")


def test_variable_used_in_not():
    check('// CHECK: %[[M:[0-9]+]] = "nn.matmul"\n// CHECK-NOT: "nn.relu"(%[[M]]) :\n'
          "// CHECK: return", output='%0 = "nn.matmul"\n%1 = "nn.relu"(%5) :\nreturn\n')
    fails('// CHECK: %[[M:[0-9]+]] = "nn.matmul"\n// CHECK-NOT: "nn.relu"(%[[M]])\n'
          "// CHECK: return")


def test_definitions_are_not_allowed_in_not():
    fails("// CHECK: module\n// CHECK-NOT: [[X:foo]]", match="cannot define")


def test_bad_variable_syntax():
    fails("// CHECK: [[X:foo", match="unclosed")
    fails("// CHECK: [[X:(]]", match="bad regex")


def test_double_brackets_that_are_not_variables_are_literal():
    out = "dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>\n"
    check("// CHECK: dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>", output=out)
    check("// CHECK: [[ [[1X:y]]", output="[[ [[1X:y]]\n")
    fails("// CHECK: dense<[[1.0, 2.0], [3.0, 5.0]]>", output=out)
    check("// CHECK: dense<[[[[A:[0-9.]+]], 2.0], [3.0, 4.0]]>\n// CHECK: [[A]]",
          output=out + "1.0\n")


def test_error_message_shows_a_bounded_region():
    big = "".join(f"line {i}\n" for i in range(100))
    msg = fails("// CHECK: nope", output=big)
    assert "searched output lines 1-100" in msg
    assert "more lines" in msg
    assert len(msg.splitlines()) < 20


# --------------------------------------------------------------------------- golden helpers


def test_split_input_file_chunks_and_start_lines():
    text = "a\nb\n// -----\nc\n//   -----\n// -----\nd"
    assert split_input_file(text) == [("a\nb\n", 1), ("c\n//   -----\n", 4), ("d", 7)]


def test_split_input_file_without_separator():
    assert split_input_file("x\ny\n") == [("x\ny\n", 1)]
    assert split_input_file("") == [("", 1)]


def test_split_input_file_keeps_line_numbers_consistent():
    lines = [f"line{i}" for i in range(1, 11)]
    lines[3] = lines[7] = "// -----"
    for chunk, start in split_input_file("\n".join(lines) + "\n"):
        for k, line in enumerate(chunk.splitlines()):
            assert line == f"line{start + k}"


def test_split_input_file_only_splits_on_newlines():
    assert split_input_file("a\u2028b\n// -----\nc\n") == [("a\u2028b\n", 1), ("c\n", 3)]


def test_parse_run_line():
    assert parse_run_line("// RUN: -p canonicalize,dce\nmodule {}") == "canonicalize,dce"
    assert parse_run_line("module {}\n  //RUN: -p 'a,b{x=1}'") == "a,b{x=1}"
    assert parse_run_line('// RUN: -p "a, b"') == "a, b"
    assert parse_run_line("// RUN: --pipeline=dce") == "dce"
    assert parse_run_line("// RUN:") == ""
    assert parse_run_line("module {}\n// CHECK: RUN: -p x") is None


@pytest.mark.parametrize("text", ["// RUN: -q x", "// RUN: -p", "// RUN: -p a b",
                                  "// RUN: -p 'a", "// RUN: -p a\n// RUN: -p b"])
def test_parse_run_line_rejects_malformed_lines(text):
    with pytest.raises(ValueError):
        parse_run_line(text)
