"""petseg: a TFX pipeline from a folder of images and masks to a released segmentation model.

The design card puts `pipeline/`, `components/`, `schemas/` and `kubeflow/` (and `models/`, `records/`, `registry/`,
as in TFX's templates) at the top level; they are installed as sub-packages of `petseg` so
that `import petseg.pipeline` works the same in a checkout, a wheel and the Kubeflow
container image. `petseg` itself (the command and the user tools) is the folder `cli/`: no
folder is named like the installed package, which Python would import in its place from a
working directory that holds it.
"""
import setuptools

setuptools.setup(
    name='petseg',
    version='0.1.0',
    description='TFX pipeline for semantic segmentation (Oxford-IIIT Pet, CamVid, any image/mask folder).',
    python_requires='>=3.10,<3.11',
    packages=[
        'petseg',
        'petseg.components',
        'petseg.components.curated_schema',
        'petseg.components.evaluator',
        'petseg.components.example_gen',
        'petseg.components.latest_release',
        'petseg.components.pusher',
        'petseg.components.release_record',
        'petseg.components.trainer',
        'petseg.components.validation_gate',
        'petseg.core',
        'petseg.kubeflow',
        'petseg.models',
        'petseg.pipeline',
        'petseg.records',
        'petseg.registry',
        'petseg.schemas',
    ],
    package_dir={
        'petseg': 'cli',
        'petseg.components': 'components',
        'petseg.core': 'core',
        'petseg.kubeflow': 'kubeflow',
        'petseg.models': 'models',
        'petseg.pipeline': 'pipeline',
        'petseg.records': 'records',
        'petseg.registry': 'registry',
        'petseg.schemas': 'schemas',
    },
    package_data={'petseg.schemas': ['*.pbtxt']},
    install_requires=[
        'tfx[kfp]==1.16.0',
        # apache-beam moved dill to an extra, but tfx_bsl and TFT import it unconditionally.
        'dill',
        'tensorflow-datasets>=4.9,<5',
        'Pillow>=10',
        # Object stores (core/storage.py): s3:// for TensorFlow (tensorflow-io's file
        # system; 0.37 is the release built for TensorFlow 2.16) and for Beam (boto3).
        'tensorflow-io>=0.37.1,<0.38',
        'boto3>=1.28',
    ],
    # cel-python: the Kubeflow harness evaluates trigger conditions as the backends do (CEL);
    # moto: a real S3 API server on localhost, the tests' object store; pytest-xdist: the
    # suite in two workers (its test groups need pytest 8: pytest 9 ignores the node ids
    # that pytest-xdist 3.8 rewrites to group tests).
    extras_require={'test': ['pytest>=8,<9', 'pytest-timeout>=2.3,<3',
                             'pytest-xdist>=3.6,<4', 'cel-python>=0.5,<0.6',
                             'moto[server]>=5,<6'],
                    'bench': ['matplotlib>=3.8,<3.10'],
                    # The GPU image (kubeflow/Dockerfile, EXTRAS=gpu): TensorFlow with the
                    # CUDA libraries it was built against, at the version constraints.txt pins.
                    'gpu': ['tensorflow[and-cuda]']},
    entry_points={'console_scripts': ['petseg=petseg.cli:entry']},
)
