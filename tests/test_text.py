"""Tokenizers, the vocabulary and the text model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attn_widget.text import TextRNN, Vocab, char_tokenize, default_segmenter, word_tokenize


def test_word_tokenizer_splits_words_and_punctuation():
    assert word_tokenize("The key, to the Cabinets, isn't here.") == [
        "the",
        "key",
        ",",
        "to",
        "the",
        "cabinets",
        ",",
        "isn't",
        "here",
        ".",
    ]
    assert word_tokenize("Tom's <img src=x>", lower=False) == [
        "Tom's",
        "<",
        "img",
        "src",
        "=",
        "x",
        ">",
    ]
    assert word_tokenize("   ") == []


def test_char_tokenizer_keeps_spaces():
    assert char_tokenize("Hi yo") == ["H", "i", " ", "y", "o"]
    assert char_tokenize("Hi", lower=True) == ["h", "i"]


@pytest.mark.parametrize("tokenize", [word_tokenize, char_tokenize])
def test_tokenizers_reject_non_strings(tokenize):
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        tokenize(b"abc")


def test_vocab_ids_specials_and_unknowns():
    vocab = Vocab(["the", "key", "the", "<unk>"])
    assert vocab.itos == ["<pad>", "<unk>", "the", "key"]
    assert vocab.encode(["key", "door", "the"]) == [3, 1, 2]
    assert vocab.decode([3, 1]) == ["key", "<unk>"]
    with pytest.raises(ValueError, match=r"unknown tokens .*'door'"):
        vocab.encode(["key", "door"], strict=True)
    with pytest.raises(ValueError, match="id 9 is out of range for a vocabulary of 4"):
        vocab.decode([9])
    with pytest.raises(TypeError, match="got a str"):
        vocab.encode("the key")


def test_vocab_build_ranks_by_frequency_and_drops_rare_tokens():
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "b", "a"]


def test_vocab_refuses_tokens_utf8_cannot_encode():
    """A lone surrogate cannot be sent to the browser; the tokenizers refuse it in text,
    and a vocabulary refuses it however its tokens came."""
    with pytest.raises(ValueError, match=r"token 'a\\ud800' holds '\\ud800' at index 1"):
        Vocab(["ok", "a\ud800"])


def test_vocab_from_list_rebuilds_to_list_and_refuses_other_lists():
    vocab = Vocab(["the", "key"])
    assert Vocab.from_list(vocab.to_list()).itos == vocab.itos
    with pytest.raises(ValueError, match=r"must start with '<pad>', '<unk>' \(ids 0 and 1\), "
                       r"got \['<unk>', '<pad>'\]"):  # fmt: skip
        Vocab.from_list(["<unk>", "<pad>", "the"])
    with pytest.raises(ValueError, match=r"holds 'the' twice"):
        Vocab.from_list(["<pad>", "<unk>", "the", "key", "the"])
    with pytest.raises(ValueError, match=r"holds '<pad>' twice"):
        Vocab.from_list(["<pad>", "<unk>", "<pad>"])
    with pytest.raises(TypeError, match="must be a list of str, got dict"):
        Vocab.from_list({"<pad>": 0})


def test_text_model_steps_through_a_string_like_the_batched_run():
    torch.manual_seed(0)
    vocab = Vocab(word_tokenize("the keys to the old cabinet are lost"))
    model = TextRNN(vocab, 5, 6, n_outputs=3).double()
    tokens, stepper = model.stepper("The keys are lost, mostly.")
    assert tokens == ["the", "keys", "are", "lost", ",", "mostly", "."]
    stepper.goto(len(tokens))
    ids = torch.tensor(vocab.encode(tokens))
    trace, logits = model(ids)
    assert ids.tolist()[4:] == [1, 1, 1]  # ",", "mostly", "." are unknown
    assert torch.allclose(stepper.trace().alpha, trace.alpha, atol=1e-12)
    assert logits.shape == (7, 3)
    assert torch.allclose(logits, model.out(trace.h[1:]))


def test_text_model_rebuilds_from_its_config():
    vocab = Vocab(["a", "b"])
    model = TextRNN(vocab, 4, 5, update="eq3", align="additive", n_outputs=2, tokenizer="char")
    clone = TextRNN.from_config(model.config())
    clone.load_state_dict(model.state_dict())
    ids = torch.tensor([2, 3, 2])
    assert torch.equal(model(ids)[1], clone(ids)[1])
    assert clone.vocab.itos == vocab.itos and clone.tokenizer == "char"


def test_text_model_bad_input():
    model = TextRNN(Vocab(["a"]), 2, 3)
    with pytest.raises(ValueError, match="no tokens in the text"):
        model.embed_text("  ")
    with pytest.raises(TypeError, match="integer tensor of token ids"):
        model(torch.zeros(3))
    with pytest.raises(ValueError, match=r"token ids must be in 0 … 2, got 0 … 7"):
        model(torch.tensor([0, 7]))
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        TextRNN(Vocab(), 2, 3, tokenizer="bpe")


def test_docstring_examples_run():
    import doctest

    import attn_widget.core.cells
    import attn_widget.core.lstmn
    import attn_widget.core.rnn
    import attn_widget.text

    modules = (
        attn_widget.text,
        attn_widget.core.cells,
        attn_widget.core.rnn,
        attn_widget.core.lstmn,
    )
    for module in modules:
        result = doctest.testmod(module, extraglobs={"torch": torch})
        assert result.failed == 0 and result.attempted > 0, module.__name__


# -- Unicode: one spelling, one token -------------------------------------------------


def test_a_word_typed_composed_or_decomposed_is_one_token():
    composed, decomposed = "caf\u00e9", "cafe\u0301"  # é, and e + combining acute
    assert word_tokenize(f"{composed} {decomposed}") == [composed, composed]
    assert char_tokenize(decomposed) == list(composed)


def test_invisible_format_characters_are_removed_not_split_on():
    # zero-width space, zero-width joiner, byte-order mark, left-to-right mark
    text = "key\u200bring \ufeffthe\u200d door\u200e"
    assert word_tokenize(text) == ["keyring", "the", "door"]
    assert "\u200b" not in char_tokenize(text)


def test_a_lone_surrogate_is_refused_with_where_it_is():
    with pytest.raises(ValueError, match=r"lone surrogate '\\ud800' at index 6 \(after 'the ke'\)"):
        word_tokenize("the ke\ud800y")
    with pytest.raises(ValueError, match="lone surrogate"):
        char_tokenize("\udfff")


def test_token_lists_are_checked_and_normalised_like_text():
    vocab = Vocab(["caf\u00e9", "keyring"])
    with pytest.raises(TypeError, match=r"tokens\[1\] must be a str, got int"):
        vocab.encode(["a", 3])
    model = TextRNN(vocab, 4, 5)
    tokens, ids = model.encode(["cafe\u0301", "key\u200bring"])  # decomposed, zero-width
    assert tokens == ["caf\u00e9", "keyring"] and ids.tolist() == vocab.encode(tokens)
    assert 1 not in ids.tolist()  # not <unk>
    with pytest.raises(TypeError, match="for token ids call the model"):
        model.embed_text(torch.tensor([2, 3]))


def test_combining_marks_stay_inside_their_word():
    assert word_tokenize("हिंदी भाषा") == ["हिंदी", "भाषा"]  # vowel signs are marks (Mn, Mc)
    assert word_tokenize("a\ufe0fb c") == ["a\ufe0fb", "c"]  # a variation selector too


def test_text_model_arguments_are_checked():
    vocab = Vocab(["a", "b"])
    with pytest.raises(TypeError, match="vocab must be a Vocab"):
        TextRNN(["a", "b"], 3, 4)
    for bad in (-1, 0, 2.5, True):
        with pytest.raises(ValueError, match="n_outputs must be a positive int"):
            TextRNN(vocab, 3, 4, n_outputs=bad)


# -- Chinese: words by jieba (rjieba), or characters without it --------------------

SENTENCE = "我喜欢在下雨天读书。你呢？"
# Read by hand: 我 / 喜欢 / 在 / 下雨天 / 读书 (I / like / on / rainy days / to read)
JIEBA_WORDS = ["我", "喜欢", "在", "下雨天", "读书", "。", "你", "呢", "？"]
CHARS = ["我", "喜", "欢", "在", "下", "雨", "天", "读", "书", "。", "你", "呢", "？"]


@pytest.fixture
def no_rjieba(monkeypatch):
    """rjieba absent, as on a machine without the [zh] extra: importing it fails."""
    monkeypatch.setitem(sys.modules, "rjieba", None)


def test_chinese_is_split_into_jieba_words_when_rjieba_is_installed():
    import rjieba  # in the [test] extra: this path is tested, never skipped

    assert rjieba.Jieba is not None
    assert default_segmenter() == "jieba"
    assert word_tokenize(SENTENCE) == JIEBA_WORDS
    assert word_tokenize(SENTENCE, segmenter="jieba") == JIEBA_WORDS
    assert word_tokenize(SENTENCE, segmenter="chars") == CHARS


def test_chinese_is_split_into_characters_without_rjieba(no_rjieba):
    assert default_segmenter() == "chars"
    assert word_tokenize(SENTENCE) == CHARS
    with pytest.raises(ModuleNotFoundError, match=r"needs the rjieba package.*pip install rjieba"):
        word_tokenize(SENTENCE, segmenter="jieba")
    assert word_tokenize("no Chinese here", segmenter="jieba") == ["no", "chinese", "here"]
    with pytest.raises(ValueError, match=r"segmenter must be one of \('jieba', 'chars'\)"):
        word_tokenize(SENTENCE, segmenter="pkuseg")


@pytest.mark.parametrize("segmenter", ["jieba", "chars"])
def test_chinese_is_never_one_token_per_clause(segmenter):
    text = "自注意力让循环神经网络回看它自己过去的隐状态，上下文向量是这些隐状态的加权和。"
    tokens = word_tokenize(text, segmenter=segmenter)
    assert "".join(tokens) == text  # nothing lost, nothing added
    assert max(map(len, tokens)) <= (4 if segmenter == "jieba" else 1)
    assert len(tokens) >= (20 if segmenter == "jieba" else len(text))


@pytest.mark.parametrize("segmenter", ["jieba", "chars"])
def test_mixed_scripts_stay_sensible(segmenter):
    # Digits and Latin words inside Chinese are words of their own; punctuation is
    # one mark a token; kana one character a token; Hangul keeps its spaced words.
    assert word_tokenize("2024年我买了3个iPhone15！", segmenter=segmenter) == [
        "2024",
        "年",
        "我",
        "买",
        "了",
        "3",
        "个",
        "iphone15",
        "！",
    ]
    assert word_tokenize("私はコーヒー。", segmenter=segmenter) == list("私はコーヒー。")
    assert word_tokenize("나는 학교에 간다.", segmenter=segmenter) == [
        "나는",
        "학교에",
        "간다",
        ".",
    ]
    assert word_tokenize("Mara说：“c_t”", segmenter=segmenter) == [
        "mara",
        "说",
        "：",
        "“",
        "c_t",
        "”",
    ]
    # A variation selector (a combining mark) stays on the character it selects.
    assert word_tokenize("漢\ufe00 字", segmenter=segmenter) == ["漢\ufe00", "字"]


def test_the_segmenter_uses_a_dictionary_of_its_own(monkeypatch):
    import rjieba

    # Words a user adds to rjieba's default dictionary go through its module-level
    # functions; attn_widget never calls them, so its tokens stay the same.
    def refuse(*args, **kwargs):
        raise AssertionError("rjieba's shared default dictionary was used")

    monkeypatch.setattr(rjieba, "cut", refuse)
    assert word_tokenize(SENTENCE) == JIEBA_WORDS


def test_the_segmenter_is_quiet_and_writes_no_cache(tmp_path):
    # A fresh interpreter: the first use loads the dictionary.  It prints nothing
    # and leaves nothing in the temp folder (jieba 0.42 does both).
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    code = "from attn_widget.text import word_tokenize as w; print('/'.join(w('我喜欢读书')))"
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "我/喜欢/读书\n", "")
    assert list(tmp.iterdir()) == []


def _chinese_model(segmenter=None):
    torch.manual_seed(0)
    vocab = Vocab(word_tokenize("我喜欢在下雨天读书。", segmenter=segmenter or "jieba"))
    return TextRNN(vocab, 4, 5, n_outputs=2, segmenter=segmenter)


def test_a_word_model_takes_its_segmenter_from_its_vocabulary():
    assert _chinese_model().segmenter == "jieba"  # holds 喜欢, 下雨天, 读书
    chars = TextRNN(Vocab(CHARS), 4, 5)
    assert chars.segmenter == "chars"
    assert chars.tokenize(SENTENCE) == CHARS  # characters, though rjieba is installed
    assert TextRNN(Vocab(["the", "key"]), 4, 5).segmenter == "chars"  # never read Chinese
    assert TextRNN(Vocab(["a"]), 4, 5, tokenizer="char").segmenter is None
    with pytest.raises(ValueError, match="segmenter applies to tokenizer='word' only"):
        TextRNN(Vocab(["a"]), 4, 5, tokenizer="char", segmenter="chars")
    with pytest.raises(ValueError, match="segmenter must be one of"):
        TextRNN(Vocab(["a"]), 4, 5, segmenter="thulac")


def test_the_segmenter_travels_in_the_config_and_the_checkpoint(tmp_path):
    from attn_widget.checkpoint import load_checkpoint, save_checkpoint

    model = _chinese_model()
    assert model.config()["segmenter"] == "jieba"
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "zh.pt"))
    assert loaded.segmenter == "jieba" and loaded.tokenize(SENTENCE) == JIEBA_WORDS
    # The same words, also where rjieba would split differently: an explicit "chars"
    # model made from a jieba vocabulary stays "chars" after the round trip.
    forced = _chinese_model("chars")
    assert TextRNN.from_config(forced.config()).tokenize("读书") == ["读", "书"]
    # A config saved before the segmenter was stored: read from the vocabulary.
    old = {k: v for k, v in model.config().items() if k != "segmenter"}
    assert TextRNN.from_config(old).segmenter == "jieba"


def test_a_jieba_model_without_rjieba_says_so_instead_of_reading_characters(monkeypatch, tmp_path):
    from attn_widget.checkpoint import load_checkpoint, save_checkpoint

    path = save_checkpoint(_chinese_model(), tmp_path / "zh.pt")  # trained where rjieba was
    monkeypatch.setitem(sys.modules, "rjieba", None)  # loaded where it is not
    model = load_checkpoint(path)  # loads: its weights and vocabulary are still usable
    assert model.segmenter == "jieba"
    with pytest.raises(ModuleNotFoundError, match=r"reads Chinese as words split by jieba") as err:
        model.encode(SENTENCE)
    assert "'下雨天'" in str(err.value) and "pip install rjieba" in str(err.value)
    # Text without Chinese needs no segmenter, and tokens given as a list none either.
    assert model.tokenize("ok.") == ["ok", "."]
    tokens, ids = model.encode(JIEBA_WORDS)
    assert tokens == JIEBA_WORDS and 1 not in ids.tolist()[:5]  # 我 喜欢 在 下雨天 读书 known


def test_a_widget_on_a_jieba_model_without_rjieba_refuses_chinese_and_stays(monkeypatch):
    from attn_widget import AttentionWidget

    model = _chinese_model()  # its vocabulary: the words of 我喜欢在下雨天读书。
    w = AttentionWidget.from_text(model, "我喜欢在下雨天读书。")
    assert w.tokens == JIEBA_WORDS[:6]
    monkeypatch.setitem(sys.modules, "rjieba", None)
    with pytest.raises(ModuleNotFoundError, match="pip install rjieba"):
        w.read_text("我在读书")
    assert w.tokens == JIEBA_WORDS[:6]  # refused before anything moved
