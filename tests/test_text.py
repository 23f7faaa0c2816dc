"""Tokenizers, the vocabulary and the text model."""

from __future__ import annotations

import pytest
import torch

from attn_widget.text import TextRNN, Vocab, char_tokenize, word_tokenize


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
