METADATA =\
{
	'name': 'FaceFusion',
	'description': 'Stand-in for SwapCast tests (honours the 3.x headless-run contract)',
	'version': '3.6.0',
	'license': 'MIT',
	'author': 'SwapCast tests',
	'url': 'https://facefusion.io'
}


def get(key):
	return METADATA.get(key)
