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
