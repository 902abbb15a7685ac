"""Opens a softrl dataset with h5py (as a Minari / Python user would) and checks its layout, shapes,
dtypes and values against what the C++ side reported (a JSON file). Exit 0 when everything matches."""
import json
import sys

import h5py
import numpy as np


def main(path, expected_path):
    with open(expected_path) as f:
        want = json.load(f)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["total_episodes"] == want["episodes"], (a["total_episodes"], want["episodes"])
        assert a["total_steps"] == want["steps"]
        assert a["softrl_format_version"] == 1
        assert a["dataset_id"] == want["dataset_id"]
        spec = json.loads(a["env_spec"])
        assert spec["id"] == want["env"] and spec["max_episode_steps"] == want["max_episode_steps"]
        obs_space, act_space = json.loads(a["observation_space"]), json.loads(a["action_space"])
        assert obs_space["type"] == "Box" and obs_space["shape"] == [want["obs_dim"]]
        discrete = want["discrete"]
        assert act_space["type"] == ("Discrete" if discrete else "Box")
        assert [s["kind"] for s in json.loads(a["softrl_sources"])] == want["source_kinds"]
        assert list(a["softrl_group_seeds"]) == want["group_seeds"]
        episode_groups = sorted(k for k in f.keys())
        assert episode_groups == sorted(f"episode_{i}" for i in range(want["episodes"])), episode_groups[:5]
        for i, e in enumerate(want["per_episode"]):
            g = f[f"episode_{i}"]
            t = e["length"]
            assert g.attrs["id"] == i and g.attrs["total_steps"] == t and g.attrs["seed"] == e["seed"]
            assert g.attrs["group"] == e["group"] and g.attrs["source"] == e["source"]
            obs, act, rew = g["observations"], g["actions"], g["rewards"]
            assert obs.shape == (t + 1, want["obs_dim"]) and obs.dtype == np.float32
            if discrete:
                assert act.shape == (t,) and act.dtype == np.int64
            else:
                assert act.shape == (t, want["act_dim"]) and act.dtype == np.float32
                assert g["infos/pre_tanh_action"].shape == (t, want["act_dim"])
            assert rew.shape == (t,) and rew.dtype == np.float64
            for key in ("terminations", "truncations"):
                assert g[key].shape == (t,) and g[key].dtype == np.bool_, key
            assert g["infos/behaviour_log_prob"].dtype == np.float64 and g["infos/source"].shape == (t,)
            assert bool(g["terminations"][-1] or g["truncations"][-1]) and not np.any(
                g["terminations"][:-1] | g["truncations"][:-1])
            # Values, exactly: float32 rows as C++ wrote them, the return as a sequential float64 sum.
            assert list(obs[0]) == [np.float32(v) for v in e["first_obs"]], (i, list(obs[0]), e["first_obs"])
            assert list(obs[t]) == [np.float32(v) for v in e["final_obs"]], i
            ret = 0.0
            for r in rew[()]:
                ret += float(r)
            assert ret == e["return"] == g.attrs["return"], (ret, e["return"])
            assert np.asarray(act).reshape(t, -1)[0].tolist() == e["first_action"], i
            lp = g["infos/behaviour_log_prob"][()]
            assert np.array_equal(np.isnan(lp), np.isnan(np.array(e["log_prob"], dtype=np.float64))), i
            assert np.allclose(lp, e["log_prob"], rtol=0, atol=0, equal_nan=True), i
    print("h5py: layout, shapes, dtypes and values match")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
