"""Sparse products arranged for XLA's CPU code (:mod:`formulang.lower.sparse_product`): the
same values and gradients as the dense products, whatever the order of the triples."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from formulang.lower.sparse_product import interleaved_order, materialize, matvec, triples


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=40))
def test_interleaved_order_is_a_permutation_by_rank_then_row(rows):
    rows = np.array(rows, dtype=int)
    order = interleaved_order(rows)
    assert sorted(order.tolist()) == list(range(len(rows)))
    # each entry's rank: how many entries of its row come before it in the input
    rank = np.array([np.sum(rows[:i] == r) for i, r in enumerate(rows)], dtype=int)
    key = list(zip(rank[order], rows[order]))
    assert key == sorted(key)  # ranks ascending, rows strictly ascending within a rank
    assert len(set(key)) == len(key)
    # within a row the entries keep their order (a stable reordering)
    for r in set(rows.tolist()):
        mine = order[rows[order] == r]
        assert mine.tolist() == sorted(mine.tolist())


def _random_sparse(seed, shape=(7, 5), density=0.4):
    return sparse.random(*shape, density=density, random_state=seed, format="csr")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_matvec_and_its_gradient_equal_the_dense_ones(seed):
    A = _random_sparse(seed)
    dense = jnp.asarray(A.toarray(), jnp.float32)
    T = tuple(jnp.asarray(a) for a in triples(A))
    x = jnp.asarray(np.random.default_rng(seed).normal(size=5), jnp.float32)

    def loss(product):
        return lambda x: jnp.sum(jnp.sin(product(x)) * jnp.arange(1.0, 8.0))

    ours = loss(lambda x: matvec(T, x, 7))
    theirs = loss(lambda x: dense @ x)
    np.testing.assert_allclose(matvec(T, x, 7), dense @ x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.grad(ours)(x), jax.grad(theirs)(x), rtol=1e-5, atol=1e-5)
    # compiled, and under vmap (vectorised chains)
    xs = jnp.stack([x, 2 * x])
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(ours)))(xs),
                               jax.vmap(jax.grad(theirs))(xs), rtol=1e-5, atol=1e-5)


def test_triples_keep_every_entry_and_sum_duplicates_as_the_matrix_does():
    A = sparse.coo_matrix(([1.0, 2.0, 3.0, 4.0], ([0, 0, 2, 2], [1, 1, 0, 3])), shape=(3, 4))
    rows, cols, vals = triples(A)
    back = np.zeros((3, 4))
    np.add.at(back, (rows, cols), vals)
    np.testing.assert_array_equal(back, A.toarray())
    assert rows.dtype == cols.dtype == np.int32


def test_materialize_is_the_identity_and_differentiable():
    x = jnp.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(materialize(x), x)
    np.testing.assert_array_equal(jax.grad(lambda x: jnp.sum(materialize(x) ** 2))(x), 2 * x)
