"""Built-in download sources for the benchmark sets (data only).

Every file is pinned to a commit on raw.githubusercontent.com and verified by sha256.
Where the facts come from: /work/shared/datasets/SOURCES.md and the sets'
``MANIFEST.sha256`` files. Urban100 and Manga109 have no verified public source, so
they have no entry here: put them in ``$UPSCALE_DATA/<Name>`` by hand.

Transforms:

* ``"none"``: the download is saved as is; ``sha256`` is the hash of its bytes.
* ``"jpeg_to_png"``: the download is a JPEG; it is decoded with PIL and written as PNG.
  ``sha256`` is the *pixel hash* of the decoded image (see ``pixel_sha256`` in
  ``upscale.datasets``): sha256 over ``f"{w}x{h}x{c}".encode() + rgb.tobytes()`` of
  the image as an RGB uint8 array (h, w, 3), so c is always 3.
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSFORMS = ("none", "jpeg_to_png")
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: saved as ``name`` (or extracted, when ``name`` is an archive)."""

    url: str
    name: str
    sha256: str
    transform: str = "none"

    @property
    def is_archive(self) -> bool:
        return self.name.lower().endswith(ARCHIVE_SUFFIXES)


_RAW = "https://raw.githubusercontent.com"
# jbhuang0604/SelfExSR @ HEAD, data/Set5/image_SRF_2/img_00k_SRF_2_HR.png (copied byte for byte)
_SELFEXSR = f"{_RAW}/jbhuang0604/SelfExSR/8f6dd8c1d20cb7e8792a7177b4f6fd677633f598/data"
# majedelhelou/denoising_datasets @ HEAD: CSet14/<name>.png and CBSD68/<id>.png (byte for byte)
_DENOISING = f"{_RAW}/majedelhelou/denoising_datasets/58234876fef6f1b56306705c78dfd40cdb837b86"
# Magauiya/Extended_SURE @ HEAD: Dataset/CBSD432/<id>.jpg (decoded with PIL, written as PNG)
_SURE = f"{_RAW}/Magauiya/Extended_SURE/1bcec3b61d7c3687f0fc906d684cc7d29e59aab4/Dataset/CBSD432"

# Set5: saved name -> (SelfExSR image number, sha256 of the PNG bytes)
SET5 = {
    "baby": (1, "b7f0633258c4dc1a1ef57f26ef2e2db414b64c170cb7c618730cb2f2aae3c7ed"),
    "bird": (2, "6f9d47ea7f70bc8a98f33d483fc7ffe684e79c9c8398321006ab8093fce5e4ef"),
    "butterfly": (3, "a58f6334af41127d8de5ea64e36ad174623a689c1bd5c4100aee20738b93a944"),
    "head": (4, "30bd282537e4660651d5f668252353a66723c301ccba541a699af053269e9eb3"),
    "woman": (5, "653e3aa5cbc70487e38e31260ba2d42588d575e267e23951ea66157adc3285e6"),
}

# Set14: name -> sha256 of the PNG bytes (CSet14/<name>.png)
SET14 = {
    "baboon": "bf6fb300762bcbe1340098b4309c179b2007c3bb81b7afde18c38a3ae70ac8a9",
    "barbara": "1ea77fe82564b55230d7c2439bef5738d18a4624280e263be48484c002b6280b",
    "bridge": "c0eb089ad3dacfa96ee79d9c112216265b36aaba205e06f80846b03b21884a53",
    "coastguard": "fc6c2acd5ca2116f37b1b38c0c2908ce64e2e414086fb43349c246d410669da6",
    "comic": "49ccc5e33deff33992b929b07549d803f176e01bf9f41b73de6b15437bc2280d",
    "face": "5cc7a1c5c013b46a7ab4850cb709974d26971550106375a36fd641c725bce9aa",
    "flowers": "609e9fc9ffd6c9689c6200a11e057c19e6e4ec5d385fe0d6eb59a7b24f327894",
    "foreman": "af4ad4771fd2def0a09ba0011e67225f10ad1590e85b48aab4f6820fa932b1ed",
    "lenna": "72d70a7a5051c6193f02b03decb6c7b1d336abe2d024f441a2384acaee84af55",
    "man": "ba7a7e45f690a542fc32fdefe1e04e0128d1cdf8c3817c1ee7b0300961636bfe",
    "monarch": "ed96187293a37c931250d137553928e1a9a63e31296b82a4968dde63683bb101",
    "pepper": "46339a09e2ae31d2f0513642607586a00d82feaf48dc3cc770e42be5684a11a9",
    "ppt3": "a9276fa3f7fbd4257ccede14d1004f836c10fcc2bac174b2428f43fe899b8f9d",
    "zebra": "af146347f19b1ab9f1da26113a88505d600e2dcb84bf91bb8e2013691e79bcc7",
}

# BSD100, the 68 ids copied byte for byte from CBSD68/<id>.png: id -> sha256 of the bytes
BSD100_PNG = {
    "101085": "728930f013122b3a8dd038efab0792782137962ae7424176d580c87f3c560b6a",
    "101087": "9bd21e8887ea1ab4820e8614e42dbfb37ee330716637507e1593d4658c3c253f",
    "102061": "8bb146be5bfd09e238e8751877f0bd0e065cab9dda20bc8e9d4e7b30129c94f1",
    "103070": "10ac13a2ffac9ede3d065e524df9a8e79c553cc303fe730935b0f29d7884cc90",
    "105025": "e4bcac97c8ebb80f7c30b6dafe64577af680709b84f3cd0ec16f30cb72c6e3c8",
    "106024": "a5a4cd7adff008fcc97b77cd80d9f27855deabe5f2ad81cb10790c6b9c297ebd",
    "108005": "74bd6aea65b7379d19ca3328eca1b09b6937aef28851e5b4457dedb3239bf022",
    "108070": "54b222064c9a3bf4b778e6bf8f112b7d9e4a7008d9d4d985c851617c147d5169",
    "108082": "dd67d1a1fc44e759e267363b5bc0be5efd95aa1177ab14f9e50170997a63d982",
    "109053": "71d3843a9b5a665a848658312a6053e7a7da0af0094317833328e77b77e29f5b",
    "119082": "e52de05206c86063b8c93e31402f97fe7942ed5655e3eb6c2e6d7b01de57887d",
    "12084": "ae5b4b79fef64795ff2be425d02c9c5d6bdc8480cc9cf381db3ebd7cddcb0d0e",
    "123074": "010480676e00fd7f26c34054ef1e7f951396eed6bb32613f0a5ad03057aae4ea",
    "126007": "74f0e5610a50552efc8e0f3ccaa48a5b5f92b9de77e560d02d262299396c5bf8",
    "130026": "8f3fcd60117b450bf7c3d2648786921e5cd315954880dfb0e3e089d05637f276",
    "134035": "ed5d90e93b19e0eb7103c6a999553c2e36259e66f5013c674b5c11ef18bca321",
    "14037": "b912eafbb74564b251bcefa3bb621c163ada16bb4073ec3e71e4507cae076da3",
    "143090": "5f853e0883c7321fae3276a97799ce8a109bc87d770e67f480d9bff681bae4ce",
    "145086": "bd4f523763889685ee9c992aa80cb319dcb707a632e3f6ff51be95dce3d7e9de",
    "147091": "302df626c225bc8841c0176a5ec7d3f25fc52875f3c9ab37330a89ea0f241429",
    "148026": "c960466c058ebe25728225226974d79eccd60399b08cf0efd6648bae7696153f",
    "148089": "dc7fa80ec7404af0937d2e2fd2378ee02aff2185d7e6e68b5d2758e818d14abe",
    "157055": "1502d3f4c8839b08765b19dec1c264f5a3234f02f7bbff2d48b998003da7706a",
    "159008": "d7c1aa98313e6b96b92af9828a34c90ea0f51502693772af1dbed9c950e0f3b8",
    "160068": "1ff3b5dbbfbd1d014fba184cf9ed82e881bb8727418dcea10c3e1d84e65bf880",
    "16077": "91f622fd634ea20ed3fec00062650379839e24d3943f10cbbd6c97e262a127db",
    "163085": "1f58f5cd31c00334e38d14264fceef114fb7d958187ded82bf09f19f894adddd",
    "167062": "6ce71248c20d35bd59c10c8623d18502005b231b6430a5b967b859edb4bed101",
    "167083": "59878a27cd05fab3b2c629cfaa5243b44ecc8352c2969660a6363cd78c7530b7",
    "170057": "5507d8205148540d172dd40aa0c1fc07298d73351dd18a8980ff0d033f62d89f",
    "175032": "818c0249759eac78fb933c1f35e72b9358bd2c2902d8db0ef5aaf88e8ce1c78f",
    "175043": "661b9deb5cbb956c18a6298b53d4a188584103bdeff4cefd415c858d094e51da",
    "182053": "3543814626f50cba23ea39cfc8449160bd5e9d23ce79427e2fa0dbedf51529ff",
    "189080": "a0561b8cdaf074a4461a1d7d509ae11851df81d8b5e78d622c35a0e763a1f878",
    "19021": "0eb3719f03f6d64bb855749b3631d86329652f6f585faf367a7f1b8d1c6a38c6",
    "196073": "f46048c149e2246b731e07cc1d8b828d8a7c4e24efbe83f8cb1671a50da4cacb",
    "197017": "bb584785dccca1bac843df70ce85cd9c7f2e219d013612ceac1e7c4632f70eb0",
    "208001": "d9b7a3318a4d3d28a51cc1dd89ba8f6b5e54e99664a30e37c6fa95e9371830f6",
    "210088": "d8bc8cc7dacda5b31205ec2acbe79548dbae4acb21dd5ff2c37f3166868410f5",
    "21077": "8a25f49a01823055b44800c57710125caf20ba47ef43d63353f3c7cbc7fd2a62",
    "216081": "f173dcc973ba2d30e4a339dfb42d3970684d5a5ee2bf94d1d7afba125645c3c0",
    "219090": "eae5439a6f090cb855e116349c6d2f0dc75c4b0fc1f321ddbd54108b4a0814bc",
    "220075": "cd57b3b126f9df99f9dfdba925f8fe9647997f46b8ca21d56c2cd24e20a2da0c",
    "223061": "ce4d5dc962e35de2d8797f4208681b5f677314cb240f2b7523bdc4167bf17a81",
    "227092": "527a52bd1cc9bff1ba1306aa0cd2e5360a99a7baae20ecdc6b555517b1dca1d9",
    "229036": "551ff3d472c01626ec7d844c8df57395babdc4787d515de69ce4d488aa740dfa",
    "236037": "94a9c48c3031f17ea0bb9aa9fa934a64832b130032ce88c2860628f0b7ba9683",
    "24077": "227b148322970e2b4321efc94e1155773dd24ed1b83a29e36c26488f9ca56d42",
    "241004": "abda35d0064e8fb2ac1250afc7cf59eb68a911fc67166ddf6a07c0c9bc00de26",
    "241048": "17e16350f28ad8b730285875d301cd703046e6f4da17ca8beff56853445e0320",
    "253027": "bc82f560cd96e36e1931b07a917a3aa2c9f23cd761894496d6040bb2ef10dfb2",
    "253055": "dfee71b92b4f9249badb9191cd1809156076fd60a4c06b8201dc0ce901248b60",
    "260058": "d2c3752f0eb867ea0716dce082ae7e6e7049c180a5f8ad133896048a0ff51cf2",
    "271035": "325d6b06eb92141fa04fe85215a57556a5a5798c4c0069c462af969f6e22e236",
    "285079": "570c78b6bc20c0325a09077520631fe338b05b41ea983076fd536cdb9a588563",
    "291000": "3922b3013c08df357b62008c76b18999c9fc851ad094944078e0830d2005e6fa",
    "295087": "5bb069fca2edacb409074733cc01f60f9eb67f56267e11fc0cee3d94a59d018f",
    "296007": "54f5531e29e6ea2edd7faeee8d40a6e7b0c0ebfb9f4ea6bf0d62d097a1b4d418",
    "296059": "cef7442078e4816f318f4d4eac94c0edcd7d3abf1adf0a81a22289c3c8822db7",
    "299086": "f79e12530418ba5598bcfc630f88214ea9e14d6346aa2241bbd7d7fec2146c75",
    "300091": "f2d7452aa683b701384c9b48992941b3776d223f426f47be93a92e7fe50917df",
    "302008": "573eb125df61533d3acc52297f39229fdb106490d65363269a0be60fd388552a",
    "304034": "3f0eb1020b1c9050597519820000429caacf52156cb76b0dc50ebb47194296cc",
    "304074": "4bacdc6cde1965fcabbf6be7cdafd69307bce5fdcaa28cac05933bf587409515",
    "306005": "aaff1715bffdf33245181493bb946f6c9243c8a72f3b2eb4db019e8b504aceab",
    "3096": "cfb0bf09e2204a8073f0c6bbbf0a2fe9624c9de0709206e0be78843c4b140f09",
    "33039": "c120304970c037f44214743b175c28b1b0d5caea1263e78b5fea156aca7cb664",
    "351093": "f9dc764a64ed52a1abad50d4c1e890d73211d823ed4a440d24d9518d85a2931d",
}

# BSD100, the 32 ids decoded from CBSD432/<id>.jpg: id -> pixel sha256 (see module doc)
BSD100_JPEG_PIXELS = {
    "156065": "8ff867173fac24baa324869fed2c71528a555e604065937e07302a298ba59f27",
    "361010": "ad94fb4506486d858e6d4c5fe0fcffb7bdace5d8a1dea362b643b73cd1a5f61b",
    "37073": "ab96f56f9e066d10423b8b8cbda8af085c8496ea63bc93e9577666f2cd41f1bf",
    "376043": "abdd4d057a1e70073ce3348061c373c54063fc5d6f9c618da8c52764e6190824",
    "38082": "4c16a48e839d504eb4041cf3e4dd42cf04d841e6d33d44e140985ce6901912c6",
    "38092": "833db4e5bcfb6cd77e57a1c7da6e85b5738ddd7fd8ef60750df85334c4addd6e",
    "385039": "bd62a94d8356a0840ae23139835fc4d4fb1cb1fb52236fad13146ce2bd6ec79a",
    "41033": "7856b5bc899a8333da38f8ba935f91777bb899453dd9f21d231a66bdb3a9246e",
    "41069": "0c1e24ef37fa2152594d26a48529706765cafff9e85aab7e7a9054df54ffd888",
    "42012": "8f57b64ae893d222e5227cb2e0bc07a1d73a37ad6225ccae4e07003bd015cf59",
    "42049": "fa5c38e4ec90ec1ac3cbe3ab91e7d2c8f38954eebd4a60bfa5f97195cec7baf9",
    "43074": "e2669ae02aed3c0fbfab19f0cbdb711588aae26238408e781d08605a525c929a",
    "45096": "a5d86186015cbe86ea05453f619eaa8a2a0f1d9957d7b5f32959d56d25caa433",
    "54082": "195c068b58826c45a7ba33e87ea538ab192a96bf743cbf30b9ae50a061ef2423",
    "55073": "f28764cbe5df2cf055cae315dbb7c502a6b00f82b410db86c50052ceedb1749b",
    "58060": "bcf928040f442ed56b94ae490a16657de550e43b733143f2589074b487dae230",
    "62096": "c0da1605aa654e625ce220f6f9a336fd7444678dcf451a1c572eb831b3dea3c1",
    "65033": "a537310f494a2e055b27b7d317fabcfe56891d4a4397603c355c70c3ae26270b",
    "66053": "e1fa86d269d7069c19dd5abe5808185c1c2f5dadd1e688ce44e5289775203cc9",
    "69015": "1d0f5573f936bbf2358e076eeab7090d069738c847cf9ed35d84d4addc9eaaf7",
    "69020": "c76ae840eb15c92a04fad1f98becc0c5e49e90bc8f55f5782ced5dea394acda5",
    "69040": "bee73a46f88d860f03cdfeb04419988fbec36c449914413412fc48702ff93b06",
    "76053": "735398bf8347819f89d3bdef5e6f0a2441a6a19f0cca6b408ba90d6ff5136383",
    "78004": "1f34ca79043508eefda8e7a2e2761e3c544414952005b9cda006ceca05ae66b3",
    "8023": "a9aa0e484f8a62c6d8f55c81259fa78d6a531bb78d5bc0546c2d441d9f389dd8",
    "85048": "7a3dbd3a27770611a8a1a17bcb168ba707d8c02d4e3dbab4fea2340161e47dfa",
    "86000": "d99f1b2a47cca4b60d48ae553a85c19ad31e2a5c28378e1006acf0b739d943bc",
    "86016": "0df91dae63aa684a9856d5a78e1ac29824c2d5898c56f1a9a6f01ad07abaed05",
    "86068": "3c401d75a1713b0a8f5313270ae613ec3cf94c2410500871655beed2c74704a6",
    "87046": "e5b965c6068927b45df6f9e76045e72f640f3074c4ac2da86d3efd929aefe4e9",
    "89072": "b4605f08208523e18b8103207b7bf09533d19530f63a76ace3219067f0e36dd9",
    "97033": "9612c11b35b3b07ea873202fc7a01a9dc2786cf8383090cb5dcc82f18a20a9e0",
}


def _build() -> dict[str, tuple[RemoteFile, ...]]:
    set5 = tuple(
        RemoteFile(f"{_SELFEXSR}/Set5/image_SRF_2/img_{k:03d}_SRF_2_HR.png", f"{name}.png", sha)
        for name, (k, sha) in SET5.items()
    )
    set14 = tuple(
        RemoteFile(f"{_DENOISING}/CSet14/{name}.png", f"{name}.png", sha) for name, sha in SET14.items()
    )
    bsd_png = [
        RemoteFile(f"{_DENOISING}/CBSD68/{i}.png", f"{i}.png", sha) for i, sha in BSD100_PNG.items()
    ]
    bsd_jpeg = [
        RemoteFile(f"{_SURE}/{i}.jpg", f"{i}.png", sha, "jpeg_to_png")
        for i, sha in BSD100_JPEG_PIXELS.items()
    ]
    bsd100 = tuple(sorted(bsd_png + bsd_jpeg, key=lambda f: f.name))
    return {"Set5": set5, "Set14": set14, "BSD100": bsd100}


SOURCES: dict[str, tuple[RemoteFile, ...]] = _build()
