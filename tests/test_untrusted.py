"""Text from files edgekd did not write, made safe for the terminal, C comments and Markdown."""

from edgekd.untrusted import for_c_comment, for_markdown, for_terminal, markdown_code


def test_the_terminal_gets_escapes_shown_not_run():
    assert for_terminal("a\x1b[2Jb\nc\u202ed\x9b") == "a\\x1b[2Jb\\x0ac\\u202ed\\x9b"
    assert for_terminal("conv1d/BiasAdd;Relu:0 ünïcode") == "conv1d/BiasAdd;Relu:0 ünïcode"


def test_a_c_comment_cannot_be_closed_or_spliced():
    assert for_c_comment("*/ int x; /*") == "* / int x; / *"
    assert for_c_comment("a**/b/**/") == "a** /b/ ** /"
    assert for_c_comment("??/\n#error x é") == "? ?/\\x0a#error x \\xe9"


def test_markdown_gets_no_html_code_span_link_or_cell_break():
    assert for_markdown("<img src=x onerror=alert(1)>|`x`[a](b)") == (
        "&lt;img src=x onerror=alert(1)&gt;\\|\\`x\\`\\[a\\](b)"
    )
    assert markdown_code("conv3") == "`conv3`"
    assert markdown_code("a`b``c") == "```a`b``c```"
    assert markdown_code("`x") == "`` `x ``"


def test_a_spreadsheet_cell_never_starts_a_formula_and_numbers_stay_numbers():
    from edgekd.untrusted import csv_text, for_spreadsheet

    for start in ("=", "+", "-", "@", "\t", "\r"):
        cell = for_spreadsheet(f"{start}HYPERLINK(1)")
        assert cell.startswith("'") and "\t" not in cell and "\r" not in cell
    assert for_spreadsheet(-0.5) == -0.5 and for_spreadsheet(3) == 3 and for_spreadsheet(None) is None
    assert for_spreadsheet("a\x1b]0;t\x07") == "a\\x1b]0;t\\x07"
    text = csv_text(["model", "p50"], [{"model": "=cmd|' /C calc'!A0", "p50": -1.5}])
    assert text == "model,p50\n'=cmd|' /C calc'!A0,-1.5\n"


def test_html_gets_no_markup_control_or_bidi_character():
    from edgekd.untrusted import for_html

    assert for_html('<b a="1">\x1b\x07\u202e') == "&lt;b a=&quot;1&quot;&gt;\\x1b\\x07\\u202e"
